"""Composition root of outbound-sender: the only place that reads settings and opens connections."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import structlog
from redis.asyncio import Redis

from omni_common import runtime
from omni_common.broker.consumer import Delivery
from omni_common.broker.notifications import notification_fanout, notification_note
from omni_common.broker.publisher import Publisher
from omni_common.broker.shards import replica_identity
from omni_common.broker.subscription import Subscription, with_shards
from omni_common.contracts import NotificationEvent, SendReply
from omni_common.contracts.routing import OUTBOUND_COMMANDS
from omni_common.crypto import KeyRing
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.privileges import refuse_superuser
from omni_common.db.service_registry import registry_for
from omni_common.graph import GraphClient
from omni_common.graph.transport import graph_http
from omni_common.logging import configure_logging
from omni_common.media.storage import storage_from_url
from omni_common.outbound.commands import CommandMessage, publish_command
from omni_common.settings import Settings
from omni_common.startup_checks import refuse_unsafe_settings
from omni_common.worker import BrokerAccess, Consumers, HandlerFactory, run_worker_from_settings
from outbound_sender.deps import SenderDeps
from outbound_sender.fence import NoFence, RedisFence
from outbound_sender.handler import handle_send
from outbound_sender.journal import MemoryJournal, RedisJournal
from outbound_sender.pacing import MemoryPacer, Pacer, Rate
from outbound_sender.policy import DEFAULT_ACCOUNT_RATES, PacingPolicy, parse_overrides
from outbound_sender.shared_pacing import FallbackPacer, RedisPacer
from outbound_sender.signals import SessionSignalStore, handle_signal
from outbound_sender.store import SessionSendStore
from outbound_sender.sweeper import run_sweeper, sweep_once

SERVICE = "outbound-sender"
# Replies held at once: each may wait for its pacing slot (up to max_pace_wait_s); the figures of
# bench outbound and the pacing tests were taken with 200.
SENDER_MAX_PREFETCH = 200
log = structlog.get_logger(__name__)


def pacing_policy(settings: Settings) -> PacingPolicy:
    """Meta's rates per channel, the WhatsApp rate and per-account overrides from settings."""
    wa = DEFAULT_ACCOUNT_RATES["whatsapp"]
    whatsapp = Rate(settings.outbound_whatsapp_rate or wa.per_second, burst=wa.burst)
    return PacingPolicy(
        account_rates={**DEFAULT_ACCOUNT_RATES, "whatsapp": whatsapp},
        overrides=parse_overrides(settings.outbound_account_rates),
    )


def handler_factory(
    settings: Settings,
    *,
    pacer: Pacer | None = None,
    after_accept: Callable[[], Awaitable[None]] | None = None,
) -> HandlerFactory:
    """Build the send handler (and the outbox sweeper) around a registry, a Graph client and a pacer."""

    async def build(broker: BrokerAccess) -> Consumers:
        topology = broker.topology
        # Status notifications are best-effort fan-out: no confirm round trip for them.
        notifier = Publisher(broker.connection, confirms=False)
        await notifier.start()
        engine = catalog_engine(settings.database_url)
        catalog = Catalog(engine)
        # No ping per checkout: sends hold a connection for one short statement, and the ping doubled
        # that hold. A dead connection fails one statement (then the pool is renewed); the store
        # retries the write of an accepted send once (``SessionSendStore.mark_sent``).
        registry = registry_for(settings, catalog, name="sender", pool_pre_ping=False)
        http = graph_http(
            timeout=httpx.Timeout(settings.outbound_graph_timeout_s, connect=5.0),
            max_connections=settings.outbound_http_connections,
            # Drop an idle connection before the server does: a request written on a connection
            # the server is closing fails with no answer, which for a send means "outcome unknown".
            keepalive_s=settings.outbound_http_keepalive_s,
        )

        # Coalesced per tenant (one message for the statuses of a burst of sends), never awaited.
        fanout = notification_fanout(notifier, topology.notifications_exchange)

        async def notify(event: NotificationEvent) -> None:
            fanout.offer(notification_note(event, key=str(uuid.uuid4()), correlation_id=None))

        redis_client: Redis | None = None
        if settings.outbound_redis_url:
            redis_client = Redis.from_url(
                settings.outbound_redis_url, socket_timeout=2.0, socket_connect_timeout=2.0
            )
        chosen = pacer
        if chosen is None and redis_client is not None:
            chosen = FallbackPacer(
                RedisPacer(redis_client, prefix=settings.outbound_redis_prefix), MemoryPacer()
            )
        elif chosen is None:
            log.info("pacing_local_only", reason="OMNI_OUTBOUND_REDIS_URL unset")
        # Meta's answers until the database has them: in Redis every replica finds them.
        journal = RedisJournal(redis_client) if redis_client is not None else MemoryJournal()
        # Whether a dead sender's claim ever called Meta: only a store outliving it can tell.
        fence = RedisFence(redis_client) if redis_client is not None else NoFence()
        deps = SenderDeps(
            store=SessionSendStore(registry.begin),
            graph=GraphClient(http, settings.graph_api_url),
            keyring=KeyRing.from_strings(settings.encryption_key_list()),
            token_cache_s=settings.outbound_token_cache_s,
            pacer=chosen or MemoryPacer(),
            notify=notify,
            retry_delays=len(topology.stage(OUTBOUND_COMMANDS).retry_queues),
            policy=pacing_policy(settings),
            max_pace_wait_s=settings.outbound_max_pace_wait_s,
            in_flight_grace_s=settings.outbound_in_flight_grace_s,
            after_accept=after_accept,
            journal=journal,
            fence=fence,
            # The files staff attach are read from the tenants' media storage to be uploaded to Meta.
            storage=storage_from_url(settings.media_storage),
        )
        signal_store = SessionSignalStore(registry.begin)

        async def handle(command: SendReply, delivery: Delivery) -> None:
            if command.signal is not None:  # a read receipt or "typing…": no message row, its own rules
                await handle_signal(deps, signal_store, command, attempt=delivery.attempt)
                return
            await handle_send(deps, command, attempt=delivery.attempt, correlation_id=delivery.correlation_id)

        async def publish(message: CommandMessage) -> None:
            await publish_command(broker.publisher, message, exchange=topology.events_exchange)

        async def active_tenants() -> list[uuid.UUID]:
            return [t.id for t in await catalog.list_tenants(statuses=["active"])]

        stop_sweeper = asyncio.Event()
        grace = timedelta(seconds=settings.outbound_outbox_grace_s)
        sweeper = asyncio.create_task(
            run_sweeper(
                stop_sweeper,
                lambda: sweep_once(registry.begin, publish, active_tenants, older_than=grace),
                interval_s=settings.outbound_outbox_sweep_interval_s,
            )
        )

        async def cleanup() -> None:
            stop_sweeper.set()
            await sweeper
            await fanout.close()
            await notifier.close()
            await http.aclose()
            if redis_client is not None:
                await redis_client.aclose()
            await registry.close()
            await engine.dispose()

        # Sharded (OMNI_OUTBOUND_SHARDS), each replica takes the shards it scores highest on, so it
        # holds warm connections to those tenants' databases only (broker/shards.py).
        commands = Subscription(OUTBOUND_COMMANDS, SendReply, handle)
        return with_shards(topology, commands, replica_identity(settings.worker_id)), cleanup

    return build


def main() -> None:
    """Consume this service's queue until SIGTERM."""
    settings = Settings()
    configure_logging(service=SERVICE, json=settings.log_json, level=settings.log_level)
    refuse_unsafe_settings(SERVICE, settings)
    # Its own database role, never a superuser, in production (db/privileges.py).
    refuse_superuser(SERVICE, settings.database_url, settings.env)
    worker = run_worker_from_settings(
        SERVICE,
        settings,
        handler_factory(settings),
        max_prefetch=SENDER_MAX_PREFETCH,
        # Sends finish out of order (pacing, Graph latency), so batched acks mostly went alone
        # anyway, and the 5-ms rhythm bunched the deliveries: 376-414 sends/s against 390-444
        # acking each at once (`bench outbound --scenarios rate-0ms`, 2026-11-26, alternating).
        batch_acks=False,
    )
    # uvloop like every service (omni_common.runtime); the setting keeps a way back to asyncio's loop.
    if settings.outbound_uvloop:
        runtime.run(worker)
    else:
        asyncio.run(worker)
