"""Composition root of the tenant-router: the only place that reads settings and opens connections."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from aio_pika.abc import AbstractRobustConnection
from pydantic import ValidationError

from omni_common import runtime
from omni_common.broker import headers as h
from omni_common.broker.consumer import Delivery, Handler
from omni_common.broker.outcomes import DeadLetter
from omni_common.broker.publisher import Publisher
from omni_common.broker.topology import Topology, build_topology
from omni_common.contracts import RawWebhook, RoutedEvent, decode, encode
from omni_common.contracts.routing import RAW_WEBHOOKS, ROUTED_EVENTS, routing_key
from omni_common.db.catalog import AccountRoute, Catalog, catalog_engine
from omni_common.dburl import libpq_conninfo
from omni_common.logging import configure_logging
from omni_common.settings import Settings
from omni_common.worker import Cleanup, HandlerFactory, run_worker
from tenant_router.handler import route_delivery
from tenant_router.metrics import EVENTS
from tenant_router.resolver import CachedResolver, listen_for_catalog_changes

SERVICE = "tenant-router"
# Header naming the only items of a delivery to route (a dead-lettered item of a batch, replayed).
ONLY_ITEMS = "x-omni-only-items"

log = structlog.get_logger(__name__)


def handler_factory(settings: Settings, topology: Topology) -> HandlerFactory:
    """Build the consumer's handler around a cached catalog resolver."""
    raw_stage = topology.stage(RAW_WEBHOOKS)

    async def build(
        _connection: AbstractRobustConnection, publisher: Publisher
    ) -> tuple[dict[str, Handler], Cleanup]:
        engine = catalog_engine(settings.database_url)
        catalog = Catalog(engine)
        resolver: CachedResolver[AccountRoute] = CachedResolver(catalog.resolve_account)
        listening = asyncio.Event()
        listener = asyncio.create_task(
            listen_for_catalog_changes(
                libpq_conninfo(settings.database_url), resolver.on_notification, ready=listening
            )
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listening.wait(), 10)

        async def emit_routed(event: RoutedEvent) -> None:
            await publisher.publish(
                routing_key(ROUTED_EVENTS, event.channel),
                encode(event),
                message_id=event.event_id,
                correlation_id=event.delivery_id,
                headers={"x-omni-tenant-id": str(event.tenant_id), "x-omni-channel": event.channel},
            )
            EVENTS.labels(event.channel, "routed").inc()

        async def emit_refused(
            raw: RawWebhook, index: str, reason: str, detail: str, account_id: str | None
        ) -> None:
            # The whole signed delivery is kept, limited to this item on replay.
            hdrs = h.dead_letter_headers(
                {ONLY_ITEMS: index, "x-omni-channel": raw.channel, "x-omni-account-id": account_id or ""},
                reason=reason,
                detail=detail,
                source_queue=raw_stage.queue,
                routing_key=routing_key(RAW_WEBHOOKS, raw.channel),
            )
            await publisher.publish_to_queue(
                raw_stage.dlq,
                encode(raw),
                message_id=f"{raw.delivery_id}:{index}",
                correlation_id=raw.delivery_id,
                headers=hdrs,
            )
            EVENTS.labels(raw.channel, reason).inc()

        async def handle(delivery: Delivery) -> None:
            try:
                raw = decode(RawWebhook, delivery.body)
            except ValidationError as exc:
                raise DeadLetter("malformed_contract", str(exc)[:300]) from exc
            structlog.contextvars.bind_contextvars(channel=raw.channel)
            only = h.text(delivery.headers.get(ONLY_ITEMS))
            summary = await route_delivery(
                raw,
                resolve=resolver.resolve,
                emit_routed=emit_routed,
                emit_refused=emit_refused,
                only_items=frozenset(only.split(",")) if only else None,
            )
            log.debug("delivery_routed", routed=summary.routed, refused=summary.refused)

        async def cleanup() -> None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await engine.dispose()

        return {raw_stage.queue: handle}, cleanup

    return build


def main() -> None:
    """Consume raw deliveries until SIGTERM."""
    settings = Settings()
    configure_logging(service=SERVICE, json=settings.log_json, level=settings.log_level)
    topology = build_topology(
        retry_delays_ms=settings.retry_delays_ms, delivery_limit=settings.delivery_limit
    )
    runtime.run(
        run_worker(
            service=SERVICE,
            rabbitmq_url=settings.rabbitmq_url,
            topology=topology,
            prefetch=settings.prefetch,
            health_port=settings.health_port or None,
            management_url=settings.rabbitmq_management_url,
            host=settings.host,
            build_handlers=handler_factory(settings, topology),
        )
    )
