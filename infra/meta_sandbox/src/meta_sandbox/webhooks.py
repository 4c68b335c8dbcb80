"""Signed webhooks the sandbox sends to the ingress: statuses after a send, simulated inbound messages,
template status changes.

With ``require_subscription`` on, a webhook for an object our app is not subscribed to (see
``subscriptions.py``) is recorded as skipped and not sent, as Meta sends nothing then.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from typing import Any

import httpx
import structlog

from meta_sandbox.errors import wa_status_error
from meta_sandbox.state import Account, SandboxState, new_id

log = structlog.get_logger(__name__)


def sign(app_secret: str, body: bytes) -> str:
    """``X-Hub-Signature-256`` value: HMAC-SHA256 of the raw body keyed with the app secret."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: dict[str, Any]) -> bytes:
    """Compact JSON with escaped non-ASCII, as Meta signs it (meta-api.md §1.2)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _wa_envelope(account: Account, value: dict[str, Any]) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": account.display_phone_number or "",
            "phone_number_id": account.account_id,
        },
        **value,
    }
    waba = account.waba_id or f"waba-{account.account_id}"
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba, "changes": [{"value": value, "field": "messages"}]}],
    }


def _messaging_envelope(account: Account, event: dict[str, Any]) -> dict[str, Any]:
    obj = "page" if account.channel == "facebook" else "instagram"
    return {"object": obj, "entry": [{"id": account.account_id, "time": _now_ms(), "messaging": [event]}]}


def wa_status(account: Account, message_id: str, recipient: str, status: str, **extra: Any) -> dict[str, Any]:
    """WhatsApp ``statuses[]`` webhook for one of our messages."""
    item: dict[str, Any] = {
        "id": message_id,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": recipient,
        **extra,
    }
    if status in ("sent", "delivered"):
        item["pricing"] = {
            "billable": False,
            "pricing_model": "PMP",
            "type": "free_customer_service",
            "category": "service",
        }
    return _wa_envelope(account, {"statuses": [item]})


def status_payloads(
    account: Account, message_id: str, recipient: str, text: str, app_id: str
) -> list[dict[str, Any]]:
    """Status webhooks Meta sends after a successful send, in their natural order."""
    if account.channel == "whatsapp":
        return [wa_status(account, message_id, recipient, s) for s in ("sent", "delivered", "read")]
    ids = {"sender": {"id": recipient}, "recipient": {"id": account.account_id}}
    if account.channel == "facebook":
        watermark = _now_ms()
        return [
            _messaging_envelope(account, {**ids, "delivery": {"mids": [message_id], "watermark": watermark}}),
            _messaging_envelope(account, {**ids, "timestamp": _now_ms(), "read": {"watermark": watermark}}),
        ]
    return [_messaging_envelope(account, {**ids, "timestamp": _now_ms(), "read": {"mid": message_id}})]


def echo_payload(
    account: Account,
    message_id: str,
    recipient: str,
    text: str,
    app_id: str,
    attachment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Messenger/IG echo of a message the business sent (text, or one attachment)."""
    message: dict[str, Any] = {"mid": message_id, "is_echo": True, "app_id": app_id}
    if attachment is not None:
        message["attachments"] = [{"type": attachment["type"], "payload": {"url": attachment.get("url", "")}}]
    else:
        message["text"] = text
    event = {
        "sender": {"id": account.account_id},
        "recipient": {"id": recipient},
        "timestamp": _now_ms(),
        "message": message,
    }
    return _messaging_envelope(account, event)


def inbound_payload(
    account: Account, sender: str, text: str, *, name: str | None, message_id: str | None = None
) -> tuple[str, dict[str, Any]]:
    """Inbound text message webhook in the channel's documented shape, and its message id."""
    if account.channel == "whatsapp":
        mid = message_id or new_id("wamid.")
        wa_id = sender.removeprefix("+")
        value = {
            "contacts": [{"profile": {"name": name or wa_id}, "wa_id": wa_id}],
            "messages": [
                {
                    "from": wa_id,
                    "id": mid,
                    "timestamp": str(int(time.time())),
                    "type": "text",
                    "text": {"body": text},
                }
            ],
        }
        return mid, _wa_envelope(account, value)
    mid = message_id or new_id("m_")
    event = {
        "sender": {"id": sender},
        "recipient": {"id": account.account_id},
        "timestamp": _now_ms(),
        "message": {"mid": mid, "text": text},
    }
    return mid, _messaging_envelope(account, event)


class WebhookEmitter:
    """Posts signed webhooks in background tasks so a send answer is never held up by the ingress."""

    def __init__(self, state: SandboxState, http: httpx.AsyncClient) -> None:
        self._state = state
        self._http = http
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        """True when an ingress URL and an app secret are configured."""
        return bool(self._state.config.ingress_url and self._state.config.app_secret)

    def after_send(
        self,
        account: Account,
        message_id: str,
        recipient: str,
        text: str,
        attachment: dict[str, Any] | None = None,
    ) -> None:
        """Schedule echo and status webhooks for an accepted message."""
        cfg = self._state.config
        if not self.enabled:
            return
        payloads: list[dict[str, Any]] = []
        if cfg.emit_echoes and account.channel != "whatsapp":
            payloads.append(echo_payload(account, message_id, recipient, text, cfg.app_id, attachment))
        if cfg.emit_statuses:
            statuses = status_payloads(account, message_id, recipient, text, cfg.app_id)
            if cfg.status_order == "reversed":
                statuses.reverse()
            elif cfg.status_order == "shuffled":
                random.shuffle(statuses)
            payloads.extend(statuses)
        if cfg.duplicate_statuses:
            payloads = [p for p in payloads for _ in range(2)]
        self._spawn(self._deliver_all(account.channel, payloads, cfg.status_delay_s))

    def after_failed_send(self, account: Account, message_id: str, recipient: str, code: int) -> None:
        """Schedule the asynchronous ``failed`` status of a message accepted with 200 (WhatsApp)."""
        if not self.enabled:
            return
        payload = wa_status(account, message_id, recipient, "failed", errors=[wa_status_error(code)])
        self._spawn(self._deliver_all(account.channel, [payload], self._state.config.status_delay_s))

    async def deliver(self, channel: str, payload: dict[str, Any]) -> int | None:
        """POST one signed webhook (retrying a little, as Meta does); returns the last HTTP status."""
        cfg = self._state.config
        if not (cfg.ingress_url and cfg.app_secret):
            raise RuntimeError("webhooks need ingress_url and app_secret")
        body = encode(payload)
        url = f"{cfg.ingress_url.rstrip('/')}/webhooks/{channel}"
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(cfg.app_secret, body)}
        record: dict[str, Any] = {"channel": channel, "url": url, "payload": payload, "attempts": 0}
        self._state.webhooks.append(record)
        if cfg.require_subscription and not self._subscribed(payload):
            record["skipped"] = "not subscribed"  # Meta sends nothing to an app that is not subscribed
            return None
        status: int | None = None
        for attempt in range(max(1, cfg.webhook_attempts)):
            record["attempts"] = attempt + 1
            try:
                response = await self._http.post(url, content=body, headers=headers)
                status = response.status_code
            except httpx.HTTPError as exc:
                record["error"] = type(exc).__name__
                status = None
            record["status_code"] = status
            if status == 200:
                break
            await asyncio.sleep(0.05 * 2**attempt)  # backoff between redeliveries, like Meta's
        log.info("sandbox.webhook", channel=channel, status_code=status, attempts=record["attempts"])
        return status

    def _subscribed(self, payload: dict[str, Any]) -> bool:
        """True when our app is subscribed to the object (Page, IG account, WABA) of the payload."""
        entries = payload.get("entry") or [{}]
        return all(str(e.get("id")) in self._state.subscriptions for e in entries)

    async def _deliver_all(self, channel: str, payloads: list[dict[str, Any]], delay_s: float) -> None:
        for payload in payloads:
            await asyncio.sleep(delay_s)
            await self.deliver(channel, payload)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)  # keep a reference: the loop holds tasks only weakly
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Cancel pending deliveries (server shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
