"""``POST /webhooks/{channel}`` as a bare ASGI handler in front of the FastAPI app (``OMNI_INGRESS_ROUTE``).

The same rules as the FastAPI route (``api.accept_webhook``: size cap while streaming, HMAC on the raw
bytes, 200 only after the confirm), without routing, ``Request`` and ``Response`` objects per
webhook. Everything else (the GET handshake, lifespan, 404s) goes to the FastAPI app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingress_webhooks.api import (
    Answer,
    IngressConfig,
    StoreRaw,
    TooLarge,
    accept_webhook,
    declared_too_large,
    read_capped,
    refused_too_large,
)
from omni_common.domain.channels import is_channel

_PREFIX = "/webhooks/"
_TEXT = (b"content-type", b"text/plain; charset=utf-8")


class _Disconnected(Exception):
    pass


def _start(answer: Answer) -> Message:
    headers = [(b"content-length", str(len(answer.body)).encode())]
    if answer.body:
        headers.append(_TEXT)
    if answer.retry_after:
        headers.append((b"retry-after", b"5"))
    return {"type": "http.response.start", "status": answer.status, "headers": headers}


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


def webhook_route(config: IngressConfig, store_raw: StoreRaw, fallback: ASGIApp) -> ASGIApp:
    """An ASGI app answering signed deliveries itself and passing anything else to ``fallback``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        channel = path[len(_PREFIX) :]
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not path.startswith(_PREFIX)
            or not is_channel(channel)
        ):
            await fallback(scope, receive, send)
            return
        declared = signature = None
        for name, value in scope["headers"]:
            if name == b"content-length" and declared is None:  # the first one, as Starlette reads it
                declared = value.decode("latin-1")
            elif name == b"x-hub-signature-256" and signature is None:
                signature = value.decode("latin-1")
        try:
            if declared_too_large(declared, config.max_body_bytes):
                raise TooLarge
            body = await read_capped(_chunks(receive), config.max_body_bytes)
        except TooLarge:
            answer = refused_too_large(channel)
        except _Disconnected:
            return  # nobody to answer; nothing was kept
        else:
            answer = await accept_webhook(config, store_raw, channel, body, signature)
        await send(_start(answer))
        await send({"type": "http.response.body", "body": answer.body})

    return app
