"""Run queue consumers as a service: connect, declare the topology, consume until SIGTERM.

Each worker's ``main.py`` builds its settings and collaborators and hands them here; this module
owns the lifecycle (connect, consume, graceful stop) so that every worker stops the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import structlog
import uvicorn
from aio_pika.abc import AbstractRobustConnection
from fastapi import FastAPI

from omni_common.broker.connection import connect, install_signal_handlers
from omni_common.broker.consumer import ConsumerRunner, Handler
from omni_common.broker.publisher import Publisher
from omni_common.broker.topology import Topology, declare_topology
from omni_common.http_common import add_health_routes
from omni_common.ops.queue_depth import QueueDepthGauges, management_endpoint

log = structlog.get_logger(__name__)

Cleanup = Callable[[], Awaitable[None]]
# Builds the handlers (queue name -> handler) once the broker is up, and an async cleanup. It gets
# the connection to publish on (not the consuming one) and the confirmed publisher built on it.
HandlerFactory = Callable[
    [AbstractRobustConnection, Publisher], Awaitable[tuple[Mapping[str, Handler], Cleanup]]
]


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
) -> None:
    """Consume every queue of ``build_handlers`` until ``stop`` is set or SIGTERM.

    With ``stop`` given (tests, embedding), the caller owns shutdown and no signal handler is installed.
    With ``health_port``, ``/metrics`` also reports the topology's queue depths, read at scrape time
    from the management API at ``management_url`` (None: on the broker's host; "": not at all).
    ``batch_acks``: see ``ConsumerRunner``.
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
        async with connection.channel() as channel:
            await declare_topology(channel, topology)
        publisher = Publisher(publish_connection)
        await publisher.start()
        handlers, cleanup = await build_handlers(publish_connection, publisher)
        runners = [
            ConsumerRunner(
                connection,
                queue=queue,
                handler=handler,
                topology=topology,
                prefetch=prefetch,
                publisher=publisher,
                name=service,
                batch_acks=batch_acks,
            )
            for queue, handler in handlers.items()
        ]
        endpoint = management_endpoint(rabbitmq_url, management_url) if health_port else None
        depths = QueueDepthGauges(endpoint, (q.name for q in topology.queues)) if endpoint else None
        connections = (connection, publish_connection)
        health = _health_server(connections, host, health_port, depths) if health_port else None
        health_task = asyncio.create_task(health.serve()) if health else None
        try:
            for runner in runners:
                await runner.start()
            log.info("worker_started", queues=list(handlers), prefetch=prefetch)
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
        log.info("worker_stopped", queues=list(handlers))
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
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # the worker owns signals
    return server
