"""Several broker URLs (one per RabbitMQ cluster node) and a robust connection that moves between them.

``OMNI_RABBITMQ_URL`` may list the nodes of a cluster, comma-separated. aio-pika's robust connection
reconnects and restores its channels, queues and consumers by itself, but always to the one URL it
was made with, and it has no notion of a list: a client of a dead node would knock on that node's
door forever. ``ClusterConnection`` is that robust connection with one change: every reconnection
attempt goes to the next node of the list (round robin), so a client whose node dies is back on a
live node at its first attempt, or after one more attempt per dead node.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import structlog
from aio_pika import RobustConnection
from aio_pika.abc import UnderlayConnection
from yarl import URL

log = structlog.get_logger(__name__)

# A new URL starts where a scheme follows a comma, so commas inside a URL (a password, a query) stay.
_SPLIT = re.compile(r"\s*,\s*(?=amqps?://)", re.IGNORECASE)


class BrokerUrlError(ValueError):
    """``OMNI_RABBITMQ_URL`` lists URLs that cannot belong to one cluster."""


def broker_urls(value: str | Sequence[str]) -> list[str]:
    """The URLs of ``value``: one URL, a comma-separated list of them, or a sequence.

    Every URL of a list must name the same vhost (a vhost belongs to the whole cluster; two would
    be two different brokers for the same service).
    """
    parts = [value] if isinstance(value, str) else list(value)
    urls = [u for part in parts for u in _SPLIT.split(part.strip()) if u]
    if not urls:
        raise BrokerUrlError("no broker URL given")
    vhosts = {_vhost(u) for u in urls}
    if len(vhosts) > 1:
        raise BrokerUrlError(f"the broker URLs name different vhosts: {sorted(vhosts)}")
    return urls


def _vhost(url: str) -> str:
    # As aiormq reads it: no path or "/" is the default vhost, "/%2F" too.
    path = URL(url).path
    return "/" if path in ("", "/") else path[1:].replace("%2F", "/")


def node_label(url: URL | str) -> str:
    """``host:port`` of a node's URL: what logs may show (never credentials)."""
    u = URL(url)
    return f"{u.host}:{u.port}"


class ClusterConnection(RobustConnection):
    """A ``RobustConnection`` over the URLs of several nodes; each reconnection tries the next one.

    Query parameters (``heartbeat``, ``reconnect_interval``...) are taken from the first URL tried.
    """

    def __init__(self, urls: Sequence[URL], *, first: int = 0, **kwargs: Any) -> None:
        if not urls:
            raise BrokerUrlError("no broker URL given")
        self._urls = tuple(urls)
        self._at = first % len(self._urls)
        self._attempted = False
        self._initialised = False
        super().__init__(self._urls[self._at], **kwargs)
        self._initialised = True

    @property
    def node(self) -> str:
        """``host:port`` of the node this connection is on (or is trying next)."""
        return node_label(self.url)

    # aio-pika (9.4 through 10.2, each checked) starts every connection attempt of a robust
    # connection by dropping the old transport (``self.transport = None``) and then connecting to
    # ``self.url``; it offers no other per-attempt hook, and ``self.url`` is meant to be replaced
    # (``update_secret`` does). So the attempt moves to the next node where that transport is
    # dropped: the first attempt uses the first URL, every later one (after a lost connection or a
    # failed attempt) the next. tests/integration/test_broker_failover.py proves it on a real broker.
    @property
    def transport(self) -> UnderlayConnection | None:
        return self._transport

    @transport.setter
    def transport(self, value: UnderlayConnection | None) -> None:
        if value is None and self._initialised and not self._close_called:
            if self._attempted:
                self._at = (self._at + 1) % len(self._urls)
                self.url = self._urls[self._at]
                log.info("broker_trying_node", node=self.node, nodes=len(self._urls))
            self._attempted = True
        self._transport = value
