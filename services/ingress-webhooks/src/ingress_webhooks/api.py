"""HTTP routes of the ingress: Meta's verification handshake and signed event deliveries."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import Counter

from ingress_webhooks.signature import verify_signature
from omni_common.contracts.events import raw_webhook_fields
from omni_common.domain.channels import CHANNELS, Channel, is_channel
from omni_common.http_common import add_health_routes

log = structlog.get_logger(__name__)

WEBHOOKS = Counter("omni_webhooks_total", "Webhook deliveries by channel and outcome", ["channel", "outcome"])
# Accepted webhooks / messages = how many webhooks shared a message (``OMNI_INGRESS_SHARE_MS``).
MESSAGES = Counter(
    "omni_ingress_messages_total",
    "Broker messages confirmed, by channel (webhooks may share one)",
    ["channel"],
)
# The hot path's counters, looked up once (``labels`` takes a lock and builds a key per call).
_ACCEPTED = {c: WEBHOOKS.labels(c, "accepted") for c in CHANNELS}
MESSAGES_BY_CHANNEL: dict[str, Counter] = {c: MESSAGES.labels(c) for c in CHANNELS}


class BrokerUnavailable(Exception):
    """The raw event could not be confirmed by the broker."""


# Publishes a raw delivery (delivery id, channel, ``raw_webhook_fields``) and returns only once the
# broker confirmed the message holding it (its own, or one shared with others: ``shared.py``).
StoreRaw = Callable[[str, str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class IngressConfig:
    """What the routes need to know; built by ``main`` from the settings."""

    app_secrets: tuple[bytes, ...]
    verify_token: str
    max_body_bytes: int


@dataclass(frozen=True)
class Answer:
    """A webhook answer, the same bytes whichever ASGI path sends it."""

    status: int
    body: bytes = b""
    retry_after: bool = False


ACCEPTED = Answer(200, b"EVENT_RECEIVED")
NOT_FOUND = Answer(404)
TOO_LARGE = Answer(413)
UNSIGNED = Answer(401)
UNAVAILABLE = Answer(503, retry_after=True)


class TooLarge(Exception):
    pass


def declared_too_large(declared: str | None, limit: int) -> bool:
    return declared is not None and declared.isdigit() and int(declared) > limit


async def read_capped(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The body, stopping at the cap (chunked or lying Content-Length) rather than reading it all."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise TooLarge
        parts.append(chunk)
    return b"".join(parts)


async def accept_webhook(
    config: IngressConfig, store_raw: StoreRaw, channel: Channel, body: bytes, signature: str | None
) -> Answer:
    """Check the signature over the raw bytes, then hand the delivery to the broker: the route's rule."""
    if not verify_signature(body, signature, config.app_secrets):
        reason = "signature_missing" if not signature else "signature_invalid"
        WEBHOOKS.labels(channel, reason).inc()
        log.warning("webhook_refused", channel=channel, reason=reason, size=len(body))
        return UNSIGNED
    delivery_id = uuid.uuid4().hex
    fields = raw_webhook_fields(
        delivery_id=delivery_id, channel=channel, received_at=datetime.now(UTC), body=body
    )
    try:
        await store_raw(delivery_id, channel, fields)
    except BrokerUnavailable:
        WEBHOOKS.labels(channel, "broker_unavailable").inc()
        log.error("webhook_not_stored", channel=channel, correlation_id=delivery_id)
        return UNAVAILABLE
    _ACCEPTED[channel].inc()
    log.debug("webhook_accepted", channel=channel, correlation_id=delivery_id, size=len(body))
    return ACCEPTED


def refused_too_large(channel: str) -> Answer:
    WEBHOOKS.labels(channel, "too_large").inc()
    log.warning("webhook_refused", channel=channel, reason="too_large")
    return TOO_LARGE


def _response(answer: Answer) -> Response:
    if answer.body:
        return Response(status_code=answer.status, content=answer.body, media_type="text/plain")
    return Response(status_code=answer.status, headers={"Retry-After": "5"} if answer.retry_after else None)


def create_health_app(ready: Callable[[], bool] = lambda: True) -> FastAPI:
    """``/healthz``, ``/readyz`` and ``/metrics``, served on ``OMNI_HEALTH_PORT``.

    Never on the public port: the webhook port faces the internet, and the metrics name channels,
    outcomes and volumes an outsider has no business reading.
    """
    app = FastAPI(title="Resevit Inbox webhooks health", docs_url=None, redoc_url=None, openapi_url=None)
    add_health_routes(app, ready)
    return app


def create_app(config: IngressConfig, store_raw: StoreRaw) -> FastAPI:
    """The public ingress application (webhook routes only); ``store_raw`` is the durable hand-off
    (a confirmed publish)."""
    app = FastAPI(title="Resevit Inbox webhooks", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/webhooks/{channel}")
    async def verify_subscription(channel: str, request: Request) -> Response:
        if channel not in CHANNELS:
            return Response(status_code=404)
        params = request.query_params
        token = params.get("hub.verify_token", "")
        ok = (
            params.get("hub.mode") == "subscribe"
            and bool(config.verify_token)
            and hmac.compare_digest(token.encode(), config.verify_token.encode())
        )
        if not ok:
            WEBHOOKS.labels(channel, "verification_refused").inc()
            log.warning("webhook_verification_refused", channel=channel)
            return Response(status_code=403)
        # Echo the challenge verbatim: Meta documents it as an int but also as a random string.
        return PlainTextResponse(params.get("hub.challenge", ""))

    @app.post("/webhooks/{channel}")
    async def receive(channel: str, request: Request) -> Response:
        if not is_channel(channel):
            return _response(NOT_FOUND)
        try:
            if declared_too_large(request.headers.get("content-length"), config.max_body_bytes):
                raise TooLarge
            body = await read_capped(request.stream(), config.max_body_bytes)
        except TooLarge:
            return _response(refused_too_large(channel))
        signature = request.headers.get("x-hub-signature-256")
        return _response(await accept_webhook(config, store_raw, channel, body, signature))

    return app
