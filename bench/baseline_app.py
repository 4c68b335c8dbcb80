"""Baseline ingress apps: ``python -m bench.baseline_app PORT hmac|confirm [AMQP_URL]``.

``hmac``: a bare FastAPI endpoint that reads the body and checks X-Hub-Signature-256, nothing else.
``confirm``: the same, then a persistent publish to a quorum queue, answered after the confirm
(one confirm channel per process, concurrent requests pipeline their confirms).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import sys
from collections.abc import AsyncIterator

import aio_pika
import uvicorn
from fastapi import FastAPI, Request, Response

from bench.config import APP_SECRET

BASELINE_QUEUE = "bench.baseline"
SECRET = APP_SECRET.encode()


def _valid(body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[7:])


def build(mode: str, amqp_url: str | None) -> FastAPI:
    state: dict[str, aio_pika.abc.AbstractChannel] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if mode != "confirm":
            yield
            return
        assert amqp_url
        connection = await aio_pika.connect_robust(amqp_url)
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(BASELINE_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
        state["channel"] = channel
        yield
        await connection.close()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    async def health() -> Response:
        return Response(status_code=200)

    @app.post("/webhooks/{channel}")
    async def receive(channel: str, request: Request) -> Response:
        body = await request.body()
        if not _valid(body, request.headers.get("x-hub-signature-256")):
            return Response(status_code=401)
        if mode == "confirm":
            message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await state["channel"].default_exchange.publish(message, routing_key=BASELINE_QUEUE)
        return Response(status_code=200, content="EVENT_RECEIVED", media_type="text/plain")

    return app


def main() -> None:
    port, mode = int(sys.argv[1]), sys.argv[2]
    amqp_url = sys.argv[3] if len(sys.argv) > 3 else None
    uvicorn.run(
        build(mode, amqp_url),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
