"""Composition root of the tenant-router: the only place that reads settings and opens connections."""

from __future__ import annotations

import asyncio
import contextlib

from omni_common import runtime
from omni_common.broker.consumer import Delivery
from omni_common.broker.subscription import Subscription
from omni_common.contracts import RawWebhookBatch
from omni_common.contracts.routing import RAW_WEBHOOKS
from omni_common.db.catalog import AccountRoute, Catalog, catalog_engine
from omni_common.db.privileges import refuse_superuser
from omni_common.dburl import libpq_conninfo
from omni_common.logging import configure_logging
from omni_common.settings import Settings
from omni_common.startup_checks import refuse_unsafe_settings
from omni_common.worker import BrokerAccess, Consumers, HandlerFactory, run_worker_from_settings
from tenant_router.batches import BatchLimits
from tenant_router.emit import BrokerEmitter
from tenant_router.handler import handle_raw_webhook
from tenant_router.resolver import CachedResolver, listen_for_catalog_changes

SERVICE = "tenant-router"


def handler_factory(settings: Settings) -> HandlerFactory:
    """Build the consumer's handler around a cached catalog resolver."""

    async def build(broker: BrokerAccess) -> Consumers:
        engine = catalog_engine(settings.database_url)
        resolver: CachedResolver[AccountRoute] = CachedResolver(Catalog(engine).resolve_account)
        listening = asyncio.Event()
        listener = asyncio.create_task(
            listen_for_catalog_changes(
                libpq_conninfo(settings.database_url), resolver.on_notification, ready=listening
            )
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listening.wait(), 10)
        emitter = BrokerEmitter(broker.publisher, broker.topology)
        limits = BatchLimits(settings.router_batch_max_events, settings.router_batch_max_bytes)

        async def handle(batch: RawWebhookBatch, delivery: Delivery) -> None:
            await handle_raw_webhook(
                batch,
                delivery,
                resolve=resolver.resolve,
                emit_routed=emitter.routed,
                emit_refused=emitter.refused,
                emit_dead=emitter.dead_lettered,
                limits=limits,
            )

        async def cleanup() -> None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await engine.dispose()

        return [Subscription(RAW_WEBHOOKS, RawWebhookBatch, handle)], cleanup

    return build


def main() -> None:
    """Consume raw deliveries until SIGTERM."""
    settings = Settings()
    configure_logging(service=SERVICE, json=settings.log_json, level=settings.log_level, cache_loggers=True)
    refuse_unsafe_settings(SERVICE, settings)
    # Its own database role, never a superuser, in production (db/privileges.py).
    refuse_superuser(SERVICE, settings.database_url, settings.env)
    runtime.run(run_worker_from_settings(SERVICE, settings, handler_factory(settings)))
