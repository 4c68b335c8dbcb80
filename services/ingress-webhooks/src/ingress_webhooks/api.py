"""HTTP routes of the ingress: Meta's verification handshake and signed event deliveries."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import Counter

from ingress_webhooks.signature import verify_signature
from omni_common.contracts import encode_raw_webhook
from omni_common.domain.channels import CHANNELS, is_channel
from omni_common.http_common import add_health_routes

log = structlog.get_logger(__name__)

WEBHOOKS = Counter("omni_webhooks_total", "Webhook deliveries by channel and outcome", ["channel", "outcome"])
# The hot path's counters, looked up once (``labels`` takes a lock and builds a key per call).
_ACCEPTED = {c: WEBHOOKS.labels(c, "accepted") for c in CHANNELS}


class BrokerUnavailable(Exception):
    """The raw event could not be confirmed by the broker."""


# Publishes a raw delivery (delivery id, channel, encoded RawWebhook) and returns only once the
# broker confirmed it.
StoreRaw = Callable[[str, str, bytes], Awaitable[None]]


@dataclass(frozen=True)
class IngressConfig:
    """What the routes need to know; built by ``main`` from the settings."""

    app_secrets: tuple[bytes, ...]
    verify_token: str
    max_body_bytes: int


class _TooLarge(Exception):
    pass


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # chunked or lying Content-Length: stop reading at the cap
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


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
            return Response(status_code=404)
        try:
            body = await _read_capped(request, config.max_body_bytes)
        except _TooLarge:
            WEBHOOKS.labels(channel, "too_large").inc()
            log.warning("webhook_refused", channel=channel, reason="too_large")
            return Response(status_code=413)
        header = request.headers.get("x-hub-signature-256")
        if not verify_signature(body, header, config.app_secrets):
            reason = "signature_missing" if not header else "signature_invalid"
            WEBHOOKS.labels(channel, reason).inc()
            log.warning("webhook_refused", channel=channel, reason=reason, size=len(body))
            return Response(status_code=401)
        delivery_id = uuid.uuid4().hex
        raw = encode_raw_webhook(
            delivery_id=delivery_id,
            channel=channel,
            received_at=datetime.now(UTC),
            body=body,
        )
        try:
            await store_raw(delivery_id, channel, raw)
        except BrokerUnavailable:
            WEBHOOKS.labels(channel, "broker_unavailable").inc()
            log.error("webhook_not_stored", channel=channel, correlation_id=delivery_id)
            return Response(status_code=503, headers={"Retry-After": "5"})
        _ACCEPTED[channel].inc()
        log.debug("webhook_accepted", channel=channel, correlation_id=delivery_id, size=len(body))
        return Response(status_code=200, content="EVENT_RECEIVED", media_type="text/plain")

    return app
