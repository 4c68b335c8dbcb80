"""Composition root of the normalizer: the only place that reads settings and opens connections."""

from __future__ import annotations

import uuid

import httpx

from normalizer.accounts import AccountCache
from normalizer.consume import enrichment_handler, routed_event_handler
from normalizer.enrich import EnrichDeps
from normalizer.handler import Outcome, handle_routed_batch
from normalizer.model import Change
from normalizer.publish import BrokerFollowUps, notification_fanout
from normalizer.store import tenant_stores
from omni_common import runtime
from omni_common.broker.batcher import KeyedBatcher
from omni_common.broker.publisher import Publisher
from omni_common.broker.shards import replica_identity
from omni_common.broker.subscription import Subscription, with_shards
from omni_common.contracts import EnrichMessage, RoutedEvent, RoutedEventBatch
from omni_common.contracts.routing import ENRICH_MESSAGES, ROUTED_EVENTS
from omni_common.crypto import KeyRing
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.privileges import refuse_superuser
from omni_common.db.service_registry import registry_for
from omni_common.graph.client import GraphClient
from omni_common.graph.transport import graph_http
from omni_common.logging import configure_logging
from omni_common.media.download import fetch_public
from omni_common.media.storage import storage_from_url
from omni_common.settings import Settings
from omni_common.startup_checks import refuse_unsafe_settings
from omni_common.worker import BrokerAccess, Consumers, HandlerFactory, run_worker_from_settings

SERVICE = "normalizer"


def handler_factory(settings: Settings) -> HandlerFactory:
    """Build the consumers' handlers around a catalog, a tenant engine registry and a Graph client."""

    async def build(broker: BrokerAccess) -> Consumers:
        # Live notifications are best-effort (a lost one costs a refresh): no confirm round trip
        # for the fan-out (one message per tenant batch, once the normalizer's most frequent publish).
        notifier = Publisher(broker.connection, confirms=False)
        await notifier.start()
        fanout = notification_fanout(notifier, broker.topology.notifications_exchange)
        follow_ups = BrokerFollowUps(broker.publisher, fanout)
        engine = catalog_engine(settings.database_url)
        # No ping per checkout (a round trip per batch): a connection found dead fails its batch,
        # SQLAlchemy then renews the pool, and the events are redone one by one or retried.
        # Tenant records and accounts are kept a minute: with many tenants each sees an event only
        # every few seconds, so a 5-s cache missed on almost every batch (a catalog read and an
        # account read per event at 1,000 tenants). A suspension or a disabled account is enforced
        # at once by the router (its cache is invalidated by the catalog); here within a minute.
        registry = registry_for(
            settings, Catalog(engine), name="normalizer", pool_pre_ping=False, tenant_cache_seconds=60.0
        )
        http = graph_http(timeout=httpx.Timeout(20.0, connect=5.0))
        enrich_deps = EnrichDeps(
            begin=registry.driver_transaction,
            graph=GraphClient(http, settings.graph_api_url),
            storage=storage_from_url(settings.media_storage),
            keyring=KeyRing.from_strings(settings.encryption_key_list()),
            fetch_public=lambda url, max_bytes: fetch_public(http, url, max_bytes),
            media_hosts=tuple(settings.media_hosts),
        )
        accounts = AccountCache(ttl=60.0)
        connect = tenant_stores(registry.driver_connection)

        async def write_batch(tenant_id: uuid.UUID, events: list[RoutedEvent]) -> list[Outcome]:
            return await handle_routed_batch(tenant_id, events, connect=connect, accounts=accounts)

        # One transaction per tenant for the events that arrive together (bounded by the prefetch):
        # a commit and an engine checkout per batch instead of per event.
        batcher: KeyedBatcher[uuid.UUID, RoutedEvent, list[Change]] = KeyedBatcher(
            write_batch,
            max_items=settings.normalizer_batch_size,
            max_wait=settings.normalizer_batch_ms / 1000,
        )
        enrich_retries = len(broker.topology.stage(ENRICH_MESSAGES).retry_queues)

        async def cleanup() -> None:
            await batcher.flush_all()
            await fanout.close()
            await notifier.close()
            await http.aclose()
            await registry.close()
            await engine.dispose()

        routed = Subscription(
            ROUTED_EVENTS, RoutedEventBatch, routed_event_handler(batcher.submit, follow_ups, follow_ups)
        )
        # With tenant shards, this replica takes the shards the broker gives it (and keeps the rest
        # as a standby): its warm tenant connections are its shards' tenants.
        return [
            *with_shards(broker.topology, routed, replica_identity(settings.worker_id)),
            Subscription(
                ENRICH_MESSAGES, EnrichMessage, enrichment_handler(enrich_deps, enrich_retries, follow_ups)
            ),
        ], cleanup

    return build


def main() -> None:
    """Consume routed events and enrichment work until SIGTERM."""
    settings = Settings()
    configure_logging(service=SERVICE, json=settings.log_json, level=settings.log_level, cache_loggers=True)
    refuse_unsafe_settings(SERVICE, settings)
    # Its own database role, never a superuser, in production (db/privileges.py).
    refuse_superuser(SERVICE, settings.database_url, settings.env)
    runtime.run(run_worker_from_settings(SERVICE, settings, handler_factory(settings)))
