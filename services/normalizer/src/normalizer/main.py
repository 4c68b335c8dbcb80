"""Composition root of the normalizer: the only place that reads settings and opens connections."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import structlog
from aio_pika.abc import AbstractRobustConnection
from pydantic import ValidationError

from normalizer.accounts import AccountCache
from normalizer.enrich import EnrichDeps, handle_enrich
from normalizer.handler import Outcome, handle_routed_batch
from normalizer.metrics import WRITES
from normalizer.store import Change
from omni_common import runtime
from omni_common.broker.batcher import KeyedBatcher
from omni_common.broker.consumer import FAILURE_COPY_CONFIRM_TIMEOUT_S, Delivery, Handler
from omni_common.broker.fanout import Fanout, Note
from omni_common.broker.outcomes import DeadLetter
from omni_common.broker.publisher import Publisher
from omni_common.broker.topology import Topology, build_topology
from omni_common.contracts import EnrichMessage, NotificationEvent, RoutedEvent, decode, encode
from omni_common.contracts.routing import ENRICH_MESSAGES, ROUTED_EVENTS, routing_key
from omni_common.crypto import KeyRing
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import registry_for
from omni_common.graph.client import GraphClient
from omni_common.graph.transport import graph_http
from omni_common.logging import configure_logging
from omni_common.media.storage import storage_from_url
from omni_common.settings import Settings
from omni_common.worker import Cleanup, HandlerFactory, run_worker

SERVICE = "normalizer"
log = structlog.get_logger(__name__)


def handler_factory(settings: Settings, topology: Topology) -> HandlerFactory:
    """Build the consumers' handlers around a catalog, a tenant engine registry and a Graph client."""

    async def build(
        connection: AbstractRobustConnection, publisher: Publisher
    ) -> tuple[dict[str, Handler], Cleanup]:
        # Live notifications are best-effort (a lost one costs a refresh): no confirm round trip
        # for the one-per-change fan-out, which was the normalizer's most frequent publish.
        notifier = Publisher(connection, confirms=False)
        await notifier.start()
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
            fetch_public=_public_fetcher(http),
            media_hosts=tuple(settings.media_hosts),
        )

        accounts = AccountCache(ttl=60.0)

        async def write_batch(tenant_id: uuid.UUID, events: list[RoutedEvent]) -> list[Outcome]:
            return await handle_routed_batch(
                tenant_id, events, connect=registry.driver_connection, accounts=accounts
            )

        # One transaction per tenant for the events that arrive together (bounded by the prefetch):
        # a commit and an engine checkout per batch instead of per event.
        batcher: KeyedBatcher[uuid.UUID, RoutedEvent, list[Change]] = KeyedBatcher(
            write_batch,  # type: ignore[arg-type]
            max_items=settings.normalizer_batch_size,
            max_wait=settings.normalizer_batch_ms / 1000,
        )

        async def send_note(note: Note) -> None:
            await notifier.publish(
                "",
                note.body,
                message_id=note.message_id,
                correlation_id=note.correlation_id,
                exchange=topology.notifications_exchange,
                mandatory=False,
            )

        fanout = Fanout(send_note)
        fanout.start()

        def announce(tenant_id: object, change: Change, correlation_id: str | None, key: str) -> None:
            """Queue a live notification; it is published after the commit, without holding the ack."""
            note = NotificationEvent(
                tenant_id=tenant_id,  # type: ignore[arg-type]
                kind=change.kind,  # type: ignore[arg-type]
                chat_id=change.chat_id,
                message_id=change.message_id,
                data=change.data,
                occurred_at=datetime.now(UTC),
            )
            fanout.offer(Note(encode(note), key, correlation_id))

        async def handle_event(delivery: Delivery) -> None:
            try:
                event = decode(RoutedEvent, delivery.body)
            except ValidationError as exc:
                raise DeadLetter("malformed_contract", str(exc)[:300]) from exc
            structlog.contextvars.bind_contextvars(tenant_id=str(event.tenant_id), channel=event.channel)
            changes = await batcher.submit(event.tenant_id, event)
            requests = []
            for change in changes:
                WRITES.labels(event.channel, change.kind).inc()
                # Here, not in the batch: the delivery's correlation id is bound in this context.
                if change.kind == "message.created":
                    log.info(
                        "event_stored",
                        chat_message_id=str(change.message_id),
                        external_message_id=change.external_id,
                    )
                elif change.kind == "message.status":
                    log.info(
                        "status_applied",
                        chat_message_id=str(change.message_id),
                        status=change.data.get("status"),
                    )
                for what in change.enrich:
                    assert change.message_id is not None
                    requests.append(
                        publisher.publish(
                            routing_key(ENRICH_MESSAGES, event.channel),
                            encode(
                                EnrichMessage(
                                    tenant_id=event.tenant_id,
                                    message_id=change.message_id,
                                    channel=event.channel,
                                    account_id=event.account_id,
                                    what=what,  # type: ignore[arg-type]
                                )
                            ),
                            message_id=f"{change.message_id}:{what}",
                            correlation_id=delivery.correlation_id,
                            # The delivery stays unacked meanwhile: on a busy event loop a short
                            # time-out only turned committed work into a retry.
                            confirm_timeout=FAILURE_COPY_CONFIRM_TIMEOUT_S,
                        )
                    )
            if requests:
                # Confirmed before the ack (their confirms pipelined); if one fails, the retried
                # event asks again, and the enrichment handler is idempotent.
                await asyncio.gather(*requests)
            for c in changes:
                if c.kind != "message.existing":
                    announce(event.tenant_id, c, delivery.correlation_id, f"{event.event_id}:{c.message_id}")

        async def handle_enrichment(delivery: Delivery) -> None:
            try:
                cmd = decode(EnrichMessage, delivery.body)
            except ValidationError as exc:
                raise DeadLetter("malformed_contract", str(exc)[:300]) from exc
            structlog.contextvars.bind_contextvars(tenant_id=str(cmd.tenant_id), channel=cmd.channel)
            final = delivery.attempt > len(topology.stage(ENRICH_MESSAGES).retry_queues)
            change = await handle_enrich(cmd, enrich_deps, final_attempt=final)
            if change is not None:
                announce(cmd.tenant_id, change, delivery.correlation_id, f"{cmd.message_id}:{cmd.what}:done")

        async def cleanup() -> None:
            await batcher.flush_all()
            await fanout.close()
            await notifier.close()
            await http.aclose()
            await registry.close()
            await engine.dispose()

        return {
            topology.queue_name(ROUTED_EVENTS): handle_event,
            topology.queue_name(ENRICH_MESSAGES): handle_enrichment,
        }, cleanup

    return build


def _public_fetcher(http: httpx.AsyncClient):  # type: ignore[no-untyped-def]
    async def fetch(url: str) -> bytes:
        # CDN URLs of Messenger/Instagram attachments are signed in themselves: no token is sent.
        # No redirects: a redirect could leave the allowed hosts.
        response = await http.get(url, follow_redirects=False)
        response.raise_for_status()
        return response.content

    return fetch


def main() -> None:
    """Consume routed events and enrichment work until SIGTERM."""
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
