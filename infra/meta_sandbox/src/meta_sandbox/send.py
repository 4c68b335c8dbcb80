"""``POST /{ver}/{phone-number-id|page-id|ig-id|me}/messages``: every kind of send, in Meta's order.

1. injected faults (``/_sandbox/faults``) act first, as an outage would;
2. the body's shape (``validate``), the token's permission for the account, a WhatsApp number's
   registration (133010 otherwise);
3. what needs state: the template (``template_send``), the media id (``media``), the attachment id
   or url (``attachments``);
4. the customer-service window (``windows``): a synchronous refusal, or a WhatsApp message accepted
   and then failed by a status webhook;
5. the answer Meta documents, the message kept for ``GET /_sandbox/sent``, and the status (and echo)
   webhooks.
Answers: WhatsApp ``{"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id"}]}``
(templates add ``message_status: "accepted"``), mark-as-read ``{"success": true}``; Messenger and
Instagram ``{"recipient_id", "message_id"}`` (plus ``attachment_id`` for a reusable url attachment).
https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages ,
https://developers.facebook.com/docs/messenger-platform/reference/send-api
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from meta_sandbox.access import MESSAGING_SCOPE, acting_account, identify, messaging_target, require_scope
from meta_sandbox.attachments import resolve_send_attachment
from meta_sandbox.errors import MetaError
from meta_sandbox.graph import apply_fault, check_version, record, sandbox_state
from meta_sandbox.media import check_media_reference
from meta_sandbox.state import Account, Fault, SandboxState, new_id
from meta_sandbox.template_send import check_template_send
from meta_sandbox.validate import SendRequest, validate_send
from meta_sandbox.webhooks import WebhookEmitter
from meta_sandbox.windows import check_window

log = structlog.get_logger(__name__)


async def send_message(ver: str, object_id: str, request: Request) -> Response:
    """``POST /{ver}/{phone-number-id|page-id|ig-id|me}/messages``."""
    entry = await record(request)
    check_version(ver)
    state = sandbox_state(request)
    caller = identify(request)
    account = acting_account(state, caller, object_id)
    body = entry["json"]
    signal = isinstance(body, dict) and body.get("status") == "read"  # a read receipt / typing
    fault = state.take_fault(
        method="POST", account_id=account.account_id, recipient=_recipient_hint(body), signal=signal
    )
    async_failure = fault is not None and fault.mode == "accept_then_fail_async"
    if async_failure and account.channel != "whatsapp":
        async_failure = False  # Messenger/IG report this synchronously
        fault.mode = "error"  # type: ignore[union-attr]
    if fault is not None and not async_failure:
        dropped = await apply_fault(request, fault, account, object_id=account.account_id)
        if dropped is not None:
            entry["response_status"] = "dropped"
            return dropped
    send = validate_send(account.channel, body)
    require_scope(caller, MESSAGING_SCOPE[account.channel], messaging_target(account))
    if account.channel == "whatsapp" and not account.registered:
        raise MetaError(133010, whatsapp=True)
    if send.kind == "mark_read":
        state.signals.append(
            {
                "account_id": account.account_id,
                "message_id": send.mark_read,
                "typing": send.typing,
                "at": time.time(),
            }
        )
        return _ok(entry, {"success": True})
    if send.kind == "sender_action":
        return _ok(entry, {"recipient_id": send.recipient})
    details = await _resolve(request, state, account, send)
    verdict = check_window(state, account, send)
    if verdict.async_code is not None and not async_failure:
        async_failure, fault = True, Fault(fault_id="window", error_code=verdict.async_code)
    message_id, answer, recipient = _answer(account, send, details)
    state.sent[message_id] = {
        "channel": account.channel,
        "account_id": account.account_id,
        "recipient": recipient,
        "type": _type_of(send),
        "text": details.get("rendered", send.text),
        "reply_to": send.reply_to,
        "reaction": send.reaction,
        "failed_async": async_failure,
        **{k: v for k, v in details.items() if k != "rendered"},
    }
    emitter: WebhookEmitter = request.app.state.emitter
    if async_failure:
        assert fault is not None
        emitter.after_failed_send(account, message_id, recipient, fault.error_code)
    else:
        emitter.after_send(
            account,
            message_id,
            recipient,
            details.get("rendered", send.text) or "",
            details.get("attachment"),
        )
    log.info("sandbox.sent", channel=account.channel, account_id=account.account_id, message_id=message_id)
    return _ok(entry, answer)


async def _resolve(
    request: Request, state: SandboxState, account: Account, send: SendRequest
) -> dict[str, Any]:
    """State-dependent checks; returns what the ``sent`` record keeps about the message."""
    if send.kind == "template":
        checked = check_template_send(state, account, send.template)
        template = {
            "name": checked.template.name,
            "language": checked.template.language,
            "parameters": checked.parameters,
        }
        return {"template": template, "rendered": checked.rendered}
    if send.kind == "media":
        assert send.media is not None
        kind = send.media["type"]
        ref = check_media_reference(state, account, kind, send.media["ref"], kind)
        return {"media": {**ref, "caption": send.media["caption"], "filename": send.media["filename"]}}
    if send.kind == "attachment":
        assert send.attachment is not None
        return {"attachment": await resolve_send_attachment(request, account, send.attachment)}
    return {}


def _answer(account: Account, send: SendRequest, details: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    if account.channel == "whatsapp":
        message_id = new_id("wamid.")
        wa_id = send.recipient.removeprefix("+")
        message: dict[str, Any] = {"id": message_id}
        if send.kind == "template":
            message["message_status"] = "accepted"
        answer: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": send.recipient, "wa_id": wa_id}],
            "messages": [message],
        }
        return message_id, answer, wa_id
    message_id = new_id("m_")
    answer = {"recipient_id": send.recipient, "message_id": message_id}
    attachment = details.get("attachment") or {}
    if attachment.get("attachment_id") and "url" in attachment:  # saved by the Send API (is_reusable)
        answer["attachment_id"] = attachment["attachment_id"]
    return message_id, answer, send.recipient


def _type_of(send: SendRequest) -> str:
    if send.kind == "media" and send.media is not None:
        return str(send.media["type"])
    if send.kind == "attachment" and send.attachment is not None:
        return str(send.attachment["type"])
    return send.kind


def _ok(entry: dict[str, Any], payload: dict[str, Any]) -> JSONResponse:
    entry["response_status"] = 200
    return JSONResponse(payload)


def _recipient_hint(body: Any) -> str | None:
    """Recipient of a send body of any channel, before validation (for fault matching)."""
    if not isinstance(body, dict):
        return None
    to = body.get("to")
    if isinstance(to, str):
        return to
    recipient = body.get("recipient")
    return recipient.get("id") if isinstance(recipient, dict) else None
