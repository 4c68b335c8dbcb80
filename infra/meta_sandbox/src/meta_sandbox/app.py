"""FastAPI app of the Meta sandbox: fake Graph routes under ``/{version}/`` plus ``/_sandbox`` controls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from meta_sandbox.control import router as control_router
from meta_sandbox.errors import MetaError, meta_error_handler
from meta_sandbox.graph import (
    apply_fault,
    authenticate,
    check_version,
    is_app_token,
    not_found,
    record,
    sandbox_state,
)
from meta_sandbox.state import Account, Fault, SandboxConfig, SandboxState, new_id
from meta_sandbox.tokens import debug_token_data
from meta_sandbox.validate import validate_send
from meta_sandbox.webhooks import WebhookEmitter

log = structlog.get_logger(__name__)


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    """Build a sandbox app with fresh, empty state."""
    state = SandboxState(config or SandboxConfig())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=5.0) as http:
            app.state.emitter = WebhookEmitter(state, http)
            yield
            await app.state.emitter.aclose()

    app = FastAPI(title="Meta sandbox", lifespan=lifespan, openapi_url="/_sandbox/openapi.json")
    app.state.sandbox = state
    app.add_exception_handler(MetaError, meta_error_handler)
    app.include_router(control_router)
    app.add_api_route("/_media/{media_id}", download_media, methods=["GET"])
    app.add_api_route("/{ver}/debug_token", debug_token, methods=["GET"])
    app.add_api_route("/{ver}/{object_id}/messages", send_message, methods=["POST"])
    app.add_api_route("/{ver}/{object_id}/subscribed_apps", subscribed_apps, methods=["GET", "POST"])
    app.add_api_route("/{ver}/{object_id}", read_object, methods=["GET"])
    return app


async def send_message(ver: str, object_id: str, request: Request) -> Response:
    """``POST /{ver}/{phone-number-id|page-id|ig-id|me}/messages``."""
    entry = await record(request)
    check_version(ver)
    account = authenticate(request)
    if object_id not in ("me", account.account_id):
        raise not_found(object_id, "post")
    state = sandbox_state(request)
    body = entry["json"]
    fault = state.take_fault(method="POST", account_id=account.account_id, recipient=_recipient_hint(body))
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
    if send.mark_read:
        return _ok(entry, {"success": True})
    if _window_closed(state, account, send.recipient, body):
        if account.channel != "whatsapp":
            subcode = 2018278 if account.channel == "facebook" else 2534022
            raise MetaError(10, subcode=subcode)
        async_failure, fault = True, Fault(fault_id="window", error_code=131047)
    emitter: WebhookEmitter = request.app.state.emitter
    if account.channel == "whatsapp":
        message_id = new_id("wamid.")
        wa_id = send.recipient.removeprefix("+")
        answer: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": send.recipient, "wa_id": wa_id}],
            "messages": [{"id": message_id}],
        }
        recipient = wa_id
    else:
        message_id = new_id("m_")
        answer = {"recipient_id": send.recipient, "message_id": message_id}
        recipient = send.recipient
    state.sent[message_id] = {
        "channel": account.channel,
        "account_id": account.account_id,
        "recipient": recipient,
        "type": "reaction" if send.reaction is not None else "text",
        "text": send.text,
        "reply_to": send.reply_to,
        "reaction": send.reaction,
        "failed_async": async_failure,
    }
    if async_failure:
        assert fault is not None
        emitter.after_failed_send(account, message_id, recipient, fault.error_code)
    else:
        emitter.after_send(account, message_id, recipient, send.text or "")
    log.info("sandbox.sent", channel=account.channel, account_id=account.account_id, message_id=message_id)
    return _ok(entry, answer)


async def read_object(ver: str, object_id: str, request: Request) -> Response:
    """``GET /{ver}/{id}``: an account, a media object or a Messenger/IG user profile."""
    await record(request)
    check_version(ver)
    state = sandbox_state(request)
    account = authenticate(request)
    fault = state.take_fault(method="GET", account_id=object_id, recipient=None)
    if fault is not None:
        dropped = await apply_fault(request, fault, account, object_id=object_id)
        if dropped is not None:
            return dropped
    fields = [f for f in request.query_params.get("fields", "").split(",") if f]
    if object_id in state.media:
        media = state.media[object_id]
        if media.account_id not in (None, account.account_id):
            raise not_found(object_id)
        base = state.config.public_url or str(request.base_url).rstrip("/")
        return _ok(
            request.state.record,
            {
                "messaging_product": "whatsapp",
                "url": f"{base.rstrip('/')}/_media/{media.media_id}",
                "mime_type": media.mime_type,
                "sha256": media.sha256,
                "file_size": len(media.content),
                "id": media.media_id,
            },
        )
    if object_id in state.contacts:
        contact = state.contacts[object_id]
        if contact.account_id not in (None, account.account_id):
            raise not_found(object_id)
        first, _, last = contact.name.partition(" ")
        known = {"name": contact.name, "first_name": first, "last_name": last, "username": contact.username}
        return _ok(request.state.record, _pick(known, fields or ["name"], object_id))
    if object_id in ("me", account.account_id):
        known = {
            "name": account.display_name,
            "verified_name": account.display_name,
            "display_phone_number": account.display_phone_number,
            "username": account.username,
        }
        return _ok(request.state.record, _pick(known, fields or ["name"], account.account_id))
    raise not_found(object_id)


async def debug_token(ver: str, request: Request) -> Response:
    """``GET /{ver}/debug_token?input_token=…``."""
    await record(request)
    check_version(ver)
    if not is_app_token(request):
        authenticate(request, allow_expired=True)
    input_token = request.query_params.get("input_token")
    if not input_token:
        raise MetaError(100, message="(#100) The parameter input_token is required")
    data = debug_token_data(sandbox_state(request), input_token)
    return _ok(request.state.record, {"data": data})


async def download_media(media_id: str, request: Request) -> Response:
    """The short-lived media URL: bytes, for a bearer token of the owning account."""
    entry = await record(request)
    account = authenticate(request, header_only=True)
    media = sandbox_state(request).media.get(media_id)
    if media is None or media.account_id not in (None, account.account_id):
        raise not_found(media_id)
    entry["response_status"] = 200
    return Response(media.content, media_type=media.mime_type)


def _ok(entry: dict[str, Any], payload: dict[str, Any]) -> JSONResponse:
    entry["response_status"] = 200
    return JSONResponse(payload)


def _pick(known: dict[str, Any], fields: list[str], object_id: str) -> dict[str, Any]:
    """Graph returns the requested fields that have a value, plus ``id``."""
    picked = {f: known[f] for f in fields if known.get(f) is not None}
    return {**picked, "id": object_id}


def _window_closed(state: SandboxState, account: Account, recipient: str, body: Any) -> bool:
    if isinstance(body, dict) and body.get("messaging_type") == "MESSAGE_TAG":
        return False
    return state.outside_window(account.account_id, recipient)


async def subscribed_apps(ver: str, object_id: str, request: Request) -> Response:
    """``POST|GET /{ver}/{waba-id|page-id|ig-id}/subscribed_apps``: subscribe our app / list it."""
    await record(request)
    check_version(ver)
    account = authenticate(request)
    state = sandbox_state(request)
    owned = {account.account_id, account.waba_id or f"waba-{account.account_id}"}
    if object_id not in owned:
        raise not_found(object_id, request.method.lower())
    if request.method == "POST":
        state.subscribed.add(object_id)
        return _ok(request.state.record, {"success": True})
    apps = [{"id": state.config.app_id, "name": "Resevit sandbox"}] if object_id in state.subscribed else []
    return _ok(request.state.record, {"data": apps})


def _recipient_hint(body: Any) -> str | None:
    """Recipient of a send body of any channel, before validation (for fault matching)."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("to"), str):
        return body["to"]
    recipient = body.get("recipient")
    return recipient.get("id") if isinstance(recipient, dict) else None
