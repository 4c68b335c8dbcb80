"""Run queue consumers as a service: connect, declare the topology, consume until SIGTERM.

Each worker's ``main.py`` reads its settings and hands ``run_worker_from_settings`` a handler
factory; this module owns the rest, the same for every worker: the connections (one to consume on,
one to publish on), the topology, one consumer per ``Subscription`` (each body decoded as its
contract before its handler runs: ``broker/subscription.py``), the health server and the graceful
stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
import uvicorn
from aio_pika.abc import AbstractRobustConnection
from fastapi import FastAPI

from omni_common.broker.connection import connect, install_signal_handlers
from omni_common.broker.consumer import ConsumerRunner
from omni_common.broker.publisher import WORKER_CONFIRM_TIMEOUT_S, Publisher
from omni_common.broker.subscription import Subscription, delivery_handler
from omni_common.broker.topology import Topology, declare_topology, require_declared, topology_for
from omni_common.http_common import add_health_routes, health_server
from omni_common.ops.queue_depth import QueueDepthGauges, management_endpoint
from omni_common.settings import Settings

log = structlog.get_logger(__name__)

Cleanup = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class BrokerAccess:
    """What a handler factory gets once the broker is up."""

    topology: Topology
    # The connection to publish on (not the consuming one), for publishers of the worker's own
    # (e.g. unconfirmed live notifications), and the confirmed publisher built on it.
    connection: AbstractRobustConnection
    publisher: Publisher


# The worker's consumers and what to close after they stop.
Consumers = tuple[Sequence[Subscription[Any]], Cleanup]
# Builds the consumers once the broker is up (main.py's wiring: databases, clients, handlers).
HandlerFactory = Callable[[BrokerAccess], Awaitable[Consumers]]


async def nothing_to_clean() -> None:
    """The cleanup of a factory that opened nothing."""


async def run_worker_from_settings(
    service: str,
    settings: Settings,
    build: HandlerFactory,
    *,
    max_prefetch: int | None = None,
    batch_acks: bool = True,
    stop: asyncio.Event | None = None,
    started: asyncio.Event | None = None,
) -> None:
    """``run_worker`` with everything settings decide: broker, topology, prefetch, health port.

    ``max_prefetch`` caps ``settings.prefetch`` for a worker whose deliveries each hold something
    scarce (a pacing slot, a model call).
    """
    prefetch = settings.prefetch if max_prefetch is None else min(settings.prefetch, max_prefetch)
    await run_worker(
        service=service,
        rabbitmq_url=settings.rabbitmq_url,
        topology=topology_for(settings),
        prefetch=prefetch,
        build_handlers=build,
        stop=stop,
        started=started,
        health_port=settings.health_port or None,
        host=settings.host,
        management_url=settings.rabbitmq_management_url,
        batch_acks=batch_acks,
        declare=settings.broker_declare_topology,
    )


async def run_worker(
    *,
    service: str,
    rabbitmq_url: str,
    topology: Topology,
    prefetch: int,
    build_handlers: HandlerFactory,
    stop: asyncio.Event | None = None,
    started: asyncio.Event | None = None,
    health_port: int | None = None,
    host: str = "127.0.0.1",
    management_url: str | None = None,
    batch_acks: bool = True,
    declare: bool = True,
) -> None:
    """Consume every subscription of ``build_handlers`` until ``stop`` is set or SIGTERM.

    With ``stop`` given (tests, embedding), the caller owns shutdown and no signal handler is installed.
    With ``health_port``, ``/metrics`` also reports the topology's queue depths, read at scrape time
    from the management API at ``management_url`` (None: on the broker's host; "": not at all).
    ``batch_acks``: see ``ConsumerRunner``. ``declare`` false: the topology is the administrator's
    (a least-privilege user may not declare it); the consumed queues are only checked to exist.
    """
    if stop is None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
    connection = await connect(rabbitmq_url, name=service)
    # Publishing gets its own connection (RabbitMQ's advice): when the broker applies flow control
    # to a publishing connection it stops reading from it, and consumers on that same connection
    # could then neither ack nor receive, so confirms and acks stalled together under load.
    try:
        publish_connection = await connect(rabbitmq_url, name=f"{service}:publish")
    except BaseException:
        await connection.close()
        raise
    try:
        if declare:
            async with connection.channel() as channel:
                await declare_topology(channel, topology)
        publisher = Publisher(publish_connection, timeout=WORKER_CONFIRM_TIMEOUT_S)
        await publisher.start()
        subscriptions, cleanup = await build_handlers(BrokerAccess(topology, publish_connection, publisher))
        if not declare:
            try:
                consumed = [topology.stage(s.queue).queue for s in subscriptions]
                await require_declared(connection, exchanges=[topology.events_exchange], queues=consumed)
            except BaseException:
                await cleanup()
                await publisher.close()
                raise
        runners = [
            ConsumerRunner(
                connection,
                queue=subscription.queue,
                handler=delivery_handler(subscription),
                topology=topology,
                prefetch=prefetch,
                publisher=publisher,
                name=service,
                batch_acks=batch_acks,
                priority=subscription.priority,
            )
            for subscription in subscriptions
        ]
        queues = [runner.queue for runner in runners]
        endpoint = management_endpoint(rabbitmq_url, management_url) if health_port else None
        depths = QueueDepthGauges(endpoint, (q.name for q in topology.queues)) if endpoint else None
        connections = (connection, publish_connection)
        health = _health_server(connections, host, health_port, depths) if health_port else None
        health_task = asyncio.create_task(health.serve()) if health else None
        try:
            for runner in runners:
                await runner.start()
            log.info("worker_started", queues=queues, prefetch=prefetch)
            if started is not None:
                started.set()
            await stop.wait()
        finally:
            # Stop taking work everywhere first, then let each runner finish what it holds.
            await asyncio.gather(*(runner.stop() for runner in runners), return_exceptions=True)
            await cleanup()
            await publisher.close()
            if health is not None and health_task is not None:
                health.should_exit = True
                await health_task
            if depths is not None:
                await depths.aclose()
        log.info("worker_stopped", queues=queues)
    finally:
        await publish_connection.close()
        await connection.close()


def _health_server(
    connections: tuple[AbstractRobustConnection, ...],
    host: str,
    port: int,
    depths: QueueDepthGauges | None = None,
) -> uvicorn.Server:
    """``/healthz``, ``/readyz`` (broker connected) and ``/metrics`` for a worker without HTTP routes."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    add_health_routes(
        app,
        lambda: not any(c.is_closed for c in connections),
        depths.refresh if depths is not None else None,
    )
    return health_server(app, host, port)
