"""Robust broker connections (to one node or to any node of a cluster) and process signal handling."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from pamqp.common import FieldTable
from yarl import URL

from omni_common.broker.cluster import ClusterConnection, broker_urls, node_label

log = structlog.get_logger(__name__)

# Per connection attempt when several nodes are listed: a node that vanished without refusing
# (a dead host, a dropped route) must not hold the client for the operating system's TCP time-out.
CLUSTER_ATTEMPT_TIMEOUT_S = 10.0


async def connect(
    url: str | Sequence[str], *, name: str, reconnect_interval: float | None = None
) -> AbstractRobustConnection:
    """Open a connection that reconnects (and restores its channels and consumers) by itself.

    ``url`` is one broker URL or several (comma-separated, one per cluster node): then the first
    reachable node in the order given is used, and a lost connection moves on to the next node.
    ``reconnect_interval`` (seconds between attempts, aio-pika's default 5) is for tests.
    """
    # The name shows up in the management UI, which tells which service holds which connection.
    properties: FieldTable = {"connection_name": name}
    extra: dict[str, Any] = {} if reconnect_interval is None else {"reconnect_interval": reconnect_interval}
    urls = broker_urls(url)
    if len(urls) == 1:
        connection: AbstractRobustConnection = await aio_pika.connect_robust(
            urls[0], client_properties=properties, **extra
        )
        return connection
    nodes = [URL(u) for u in urls]
    failure: BaseException | None = None
    for first in range(len(nodes)):
        connection = ClusterConnection(nodes, first=first, client_properties=properties, **extra)
        try:
            await connection.connect(timeout=CLUSTER_ATTEMPT_TIMEOUT_S)
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            await connection.close()
            log.warning("broker_node_unreachable", node=node_label(nodes[first]), error=type(exc).__name__)
            failure = exc
            continue
        log.info("broker_connected", node=connection.node, nodes=len(nodes))
        return connection
    assert failure is not None
    raise failure


def install_signal_handlers(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGTERM or SIGINT so the service can shut down gracefully."""
    loop = asyncio.get_running_loop()

    def _on_signal(sig: signal.Signals) -> None:
        log.info("signal_received", signal=sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, sig)
