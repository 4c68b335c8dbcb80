"""Composition root of outbound-sender: the only place that reads settings and opens connections."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import structlog
from aio_pika.abc import AbstractRobustConnection
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from omni_common import runtime
from omni_common.broker.consumer import Delivery, Handler
from omni_common.broker.outcomes import DeadLetter
from omni_common.broker.publisher import Publisher
from omni_common.broker.topology import Topology, build_topology
from omni_common.contracts import NotificationEvent, SendReply, decode, encode
from omni_common.contracts.routing import OUTBOUND_COMMANDS
from omni_common.crypto import KeyRing
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import registry_for
from omni_common.graph import GraphClient
from omni_common.graph.transport import graph_http
from omni_common.logging import configure_logging
from omni_common.settings import Settings
from omni_common.worker import Cleanup, HandlerFactory, run_worker
from outbound_sender.handler import SenderDeps, handle_send
from outbound_sender.notify import BackgroundNotifier
from outbound_sender.pacing import MemoryPacer, Pacer, Rate
from outbound_sender.policy import DEFAULT_ACCOUNT_RATES, PacingPolicy, parse_overrides
from outbound_sender.shared_pacing import FallbackPacer, RedisPacer
from outbound_sender.sweeper import run_sweeper, sweep_once
from outbound_sender.tokens import TokenCache

SERVICE = "outbound-sender"
# Replies held at once: each may wait for its pacing slot (up to max_pace_wait_s); the figures of
# bench outbound and the pacing tests were taken with 200.
SENDER_MAX_PREFETCH = 200
log = structlog.get_logger(__name__)


class SenderSettings(BaseSettings):
    """Settings of this service only (``OMNI_OUTBOUND_*``)."""

    model_config = SettingsConfigDict(env_prefix="OMNI_OUTBOUND_", env_file=".env", extra="ignore")

    whatsapp_rate: float = DEFAULT_ACCOUNT_RATES["whatsapp"].per_second  # msg/s per number
    account_rates: str = ""  # per-account overrides: "ID=RATE[/BURST],..."
    max_pace_wait_s: float = 10.0
    in_flight_grace_s: float = 60.0
    graph_timeout_s: float = 30.0
    outbox_sweep_interval_s: float = 15.0
    outbox_grace_s: float = 10.0
    # Shared pacing across replicas (e.g. redis://127.0.0.1:6379/0); unset: each replica paces alone,
    # which is only right with one replica (or rates divided by the replica count).
    redis_url: str | None = None
    redis_prefix: str = "omni:pace:"  # key prefix of the shared pacer (one per deployment)
    # Keep-alive connections to the Graph API: at least the sends in flight (prefetch), or requests
    # queue for a connection and reach Meta bunched.
    http_connections: int = 200
    http_keepalive_s: float = 2.0  # under the usual 5 s server keep-alive timeouts
    token_cache_s: float = 60.0  # how long a decrypted token is reused (0: decrypt per send)
    uvloop: bool = True


def handler_factory(
    settings: Settings,
    topology: Topology,
    sender: SenderSettings | None = None,
    *,
    pacer: Pacer | None = None,
    after_accept: Callable[[], Awaitable[None]] | None = None,
) -> HandlerFactory:
    """Build the send handler (and the outbox sweeper) around a registry, a Graph client and a pacer."""
    cfg = sender or SenderSettings()

    async def build(
        connection: AbstractRobustConnection, publisher: Publisher
    ) -> tuple[dict[str, Handler], Cleanup]:
        # Status notifications are best-effort fan-out: no confirm round trip for them.
        notifier = Publisher(connection, confirms=False)
        await notifier.start()
        engine = catalog_engine(settings.database_url)
        catalog = Catalog(engine)
        # No ping per checkout: sends hold a connection for one short statement, and the ping doubled
        # that hold. A dead connection fails one statement (then the pool is renewed); the handler
        # retries the write of an accepted send once (``SenderDeps._accept_batch``).
        registry = registry_for(settings, catalog, name="sender", pool_pre_ping=False)
        http = graph_http(
            timeout=httpx.Timeout(cfg.graph_timeout_s, connect=5.0),
            max_connections=cfg.http_connections,
            # Drop an idle connection before the server does: a request written on a connection
            # the server is closing fails with no answer, which for a send means "outcome unknown".
            keepalive_s=cfg.http_keepalive_s,
        )
        keyring = KeyRing.from_strings(settings.encryption_key_list())
        wa = DEFAULT_ACCOUNT_RATES["whatsapp"]
        policy = PacingPolicy(
            account_rates={**DEFAULT_ACCOUNT_RATES, "whatsapp": Rate(cfg.whatsapp_rate, burst=wa.burst)},
            overrides=parse_overrides(cfg.account_rates),
        )

        async def publish_notification(event: NotificationEvent) -> None:
            await notifier.publish(
                "",
                encode(event),
                message_id=str(uuid.uuid4()),
                exchange=topology.notifications_exchange,
                mandatory=False,  # no live inbox bound is normal
            )

        notify = BackgroundNotifier(publish_notification)
        redis_client: Any = None
        chosen = pacer
        if chosen is None and cfg.redis_url:
            import redis.asyncio as aioredis

            redis_client = aioredis.from_url(cfg.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
            chosen = FallbackPacer(RedisPacer(redis_client, prefix=cfg.redis_prefix), MemoryPacer())
        elif chosen is None:
            log.info("pacing_local_only", reason="OMNI_OUTBOUND_REDIS_URL unset")
        deps = SenderDeps(
            begin=registry.begin,
            graph=GraphClient(http, settings.graph_api_url),
            keyring=keyring,
            tokens=TokenCache(keyring, ttl_s=cfg.token_cache_s),
            pacer=chosen or MemoryPacer(),
            notify=notify,
            retry_delays=len(topology.stage(OUTBOUND_COMMANDS).retry_queues),
            policy=policy,
            max_pace_wait_s=cfg.max_pace_wait_s,
            in_flight_grace_s=cfg.in_flight_grace_s,
            after_accept=after_accept,
        )

        async def handle(delivery: Delivery) -> None:
            try:
                command = decode(SendReply, delivery.body)
            except ValidationError as exc:
                raise DeadLetter("invalid_payload", f"not a SendReply: {exc.error_count()} errors") from exc
            await handle_send(deps, command, attempt=delivery.attempt, correlation_id=delivery.correlation_id)

        async def publish(key: str, body: bytes, message_id: str, correlation_id: str) -> None:
            await publisher.publish(
                key,
                body,
                message_id=message_id,
                correlation_id=correlation_id,
                exchange=topology.events_exchange,
            )

        async def active_tenants() -> list[uuid.UUID]:
            return [t.id for t in await catalog.list_tenants(statuses=["active"])]

        stop_sweeper = asyncio.Event()
        sweeper = asyncio.create_task(
            run_sweeper(
                stop_sweeper,
                lambda: sweep_once(
                    registry.begin, publish, active_tenants, older_than=timedelta(seconds=cfg.outbox_grace_s)
                ),
                interval_s=cfg.outbox_sweep_interval_s,
            )
        )

        async def cleanup() -> None:
            stop_sweeper.set()
            await sweeper
            await notify.drain()
            await notifier.close()
            await http.aclose()
            if redis_client is not None:
                await redis_client.aclose()
            await registry.close()
            await engine.dispose()

        return {topology.queue_name(OUTBOUND_COMMANDS): handle}, cleanup

    return build


def main() -> None:
    """Consume this service's queue until SIGTERM."""
    settings = Settings()
    configure_logging(service=SERVICE, json=settings.log_json, level=settings.log_level)
    topology = build_topology(
        retry_delays_ms=settings.retry_delays_ms, delivery_limit=settings.delivery_limit
    )
    # uvloop like every service (omni_common.runtime); the setting keeps a way back to asyncio's loop.
    run = runtime.run if SenderSettings().uvloop else asyncio.run
    run(
        run_worker(
            service=SERVICE,
            rabbitmq_url=settings.rabbitmq_url,
            topology=topology,
            prefetch=min(settings.prefetch, SENDER_MAX_PREFETCH),
            # Sends finish out of order (pacing, Graph latency), so batched acks mostly went alone
            # anyway, and the 5-ms rhythm bunched the deliveries: 376-414 sends/s against 390-444
            # acking each at once (`bench outbound --scenarios rate-0ms`, 2026-11-26, alternating).
            batch_acks=False,
            health_port=settings.health_port or None,
            management_url=settings.rabbitmq_management_url,
            host=settings.host,
            build_handlers=handler_factory(settings, topology),
        )
    )
