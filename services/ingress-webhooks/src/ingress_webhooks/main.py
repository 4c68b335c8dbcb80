"""Composition root of ingress-webhooks: the only place that reads settings and opens connections."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp

from ingress_webhooks.api import (
    MESSAGES_BY_CHANNEL,
    BrokerUnavailable,
    IngressConfig,
    create_app,
    create_health_app,
)
from ingress_webhooks.asgi import webhook_route
from ingress_webhooks.shared import SharedStore
from ingress_webhooks.window import ShareLimits
from omni_common import runtime
from omni_common.broker.connection import connect
from omni_common.broker.outcomes import PublishError
from omni_common.broker.publisher import Publisher
from omni_common.broker.topology import declare_topology, require_declared, topology_for
from omni_common.contracts.routing import RAW_WEBHOOKS, routing_key
from omni_common.domain.channels import CHANNELS
from omni_common.http_common import health_server
from omni_common.logging import configure_logging
from omni_common.settings import Settings
from omni_common.startup_checks import refuse_unsafe_settings


@dataclass(frozen=True)
class IngressApps:
    webhooks: ASGIApp  # OMNI_INGRESS_PORT, the internet-facing one: webhook routes only
    health: FastAPI  # OMNI_HEALTH_PORT, for probes and Prometheus inside the cluster


def build_apps(settings: Settings) -> IngressApps:
    """Wire the ingress app to a broker connection opened in its lifespan; the health app reports it."""
    state: dict[str, Publisher] = {}
    connection_holder: dict[str, object] = {}

    keys: dict[str, str] = {c: routing_key(RAW_WEBHOOKS, c) for c in CHANNELS}

    async def publish(channel: str, message_id: str, body: bytes, bodies: int) -> None:
        publisher = state.get("publisher")
        if publisher is None:
            raise BrokerUnavailable
        headers: dict[str, object] = {"x-omni-channel": channel}
        if bodies > 1:
            headers["x-omni-bodies"] = bodies
        try:
            await publisher.publish(
                keys[channel], body, message_id=message_id, correlation_id=message_id, headers=headers
            )
        except PublishError as exc:
            raise BrokerUnavailable from exc
        MESSAGES_BY_CHANNEL[channel].inc()

    async def store_alone(delivery_id: str, channel: str, fields: dict[str, Any]) -> None:
        await publish(channel, delivery_id, orjson.dumps(fields), 1)

    shared = (
        SharedStore(
            publish,
            ShareLimits(
                window_s=settings.ingress_share_ms / 1000,
                max_bodies=settings.ingress_share_max_bodies,
                max_bytes=settings.ingress_share_max_bytes,
            ),
        )
        if settings.ingress_share_ms > 0
        else None
    )
    store_raw = shared.store if shared is not None else store_alone

    def ready() -> bool:
        conn = connection_holder.get("connection")
        return conn is not None and not getattr(conn, "is_closed", True)

    config = IngressConfig(
        app_secrets=tuple(settings.app_secret_list()),
        verify_token=settings.meta_verify_token.get_secret_value(),
        max_body_bytes=settings.max_body_bytes,
    )
    app = create_app(config, store_raw)
    webhooks: ASGIApp = webhook_route(config, store_raw, app) if settings.ingress_route == "asgi" else app

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        connection = await connect(settings.rabbitmq_url, name="ingress-webhooks")
        connection_holder["connection"] = connection
        topology = topology_for(settings)
        try:
            if settings.broker_declare_topology:
                async with connection.channel() as channel:
                    await declare_topology(channel, topology)
            else:  # a least-privilege user: the administrator declared it (`omni broker setup`)
                await require_declared(connection, exchanges=[topology.events_exchange])
        except BaseException:
            await connection.close()
            raise
        publisher = Publisher(connection)
        await publisher.start()
        state["publisher"] = publisher
        try:
            yield
        finally:
            if shared is not None:
                await shared.close()  # open windows are published and answered before the channel goes
            state.pop("publisher", None)
            await publisher.close()
            await connection.close()

    app.router.lifespan_context = lifespan
    return IngressApps(webhooks=webhooks, health=create_health_app(ready))


async def _serve(settings: Settings) -> None:
    apps = build_apps(settings)
    public = uvicorn.Server(
        uvicorn.Config(
            apps.webhooks,
            host=settings.host,
            port=settings.ingress_port,
            log_level="warning",
            access_log=False,
            log_config=None,  # uvicorn's loggers go through ours (omni_common.logging), redaction included
            http="httptools",
            # Longer than the senders keep an idle connection (uvicorn's default is 5 s): a server that
            # closes first races a request already on its way, which the sender sees as a reset without
            # an answer (seen under full load in the 1,000-tenant fault test) and must deliver again.
            timeout_keep_alive=75,
        )
    )
    # The public server owns SIGTERM; the health server follows it down once it has drained. It
    # starts once the webhook port is bound, so /readyz never answers before webhooks can arrive.
    health = health_server(apps.health, settings.host, settings.health_port) if settings.health_port else None
    serving = asyncio.create_task(public.serve())
    while not public.started and not serving.done():  # noqa: ASYNC110 - uvicorn sets a flag, no event
        await asyncio.sleep(0.05)
    health_task = asyncio.create_task(health.serve()) if health and not serving.done() else None
    try:
        await serving
    finally:
        if health is not None and health_task is not None:
            health.should_exit = True
            await health_task


def main() -> None:
    """Run the ingress on ``OMNI_INGRESS_PORT`` and its health routes on ``OMNI_HEALTH_PORT``."""
    settings = Settings()
    configure_logging(service="ingress-webhooks", json=settings.log_json, level=settings.log_level)
    refuse_unsafe_settings("ingress-webhooks", settings)
    runtime.run(_serve(settings))
