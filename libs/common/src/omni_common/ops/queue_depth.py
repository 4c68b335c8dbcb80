"""Queue depths for Prometheus: ``omni_queue_messages{queue,state}``, read at scrape time.

RabbitMQ's own Prometheus plugin reports per-queue series only on ``/metrics/per-object`` (or when
told to), and a local broker may not have the plugin at all; the management API is there wherever
``omni status`` and the runbook's tools work. So a worker's ``/metrics`` asks it, once per scrape:
one ``GET /api/queues/{vhost}`` with statistics off and queue totals on (the cheapest form), with a
short time-out. When that fails the gauges keep their last values and
``omni_queue_depth_errors_total`` counts it: a scrape never fails or hangs because of the broker.
The figures lag the broker by its statistics interval (5 s by default). With a cluster (several
broker URLs) any node's management API answers for the whole cluster: the first one that answers is
used, and kept until it stops answering.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx
import structlog
from prometheus_client import Counter, Gauge

from omni_common.broker.cluster import broker_urls

log = structlog.get_logger(__name__)

QUEUE_MESSAGES = Gauge(
    "omni_queue_messages",
    "Messages in a queue of the topology (work, retry and dead-letter queues), by state: "
    "ready or unacked (RabbitMQ management API, read at scrape time)",
    ["queue", "state"],
)
QUEUE_DEPTH_ERRORS = Counter(
    "omni_queue_depth_errors_total",
    "Scrapes whose queue depths could not be read from the management API (gauges kept their values)",
)

# Columns the management API returns with ``disable_stats=true&enable_queue_totals=true``.
_STATES = (("ready", "messages_ready"), ("unacked", "messages_unacknowledged"))


@dataclass(frozen=True)
class ManagementEndpoint:
    """Where a vhost's queues can be read: the management API's base URL, the vhost, credentials.

    ``fallbacks``: the management APIs of the cluster's other nodes, tried in order when
    ``base_url`` does not answer.
    """

    base_url: str
    vhost: str
    username: str
    password: str = field(repr=False)
    fallbacks: tuple[str, ...] = ()

    @property
    def base_urls(self) -> tuple[str, ...]:
        return (self.base_url, *self.fallbacks)


def management_endpoint(rabbitmq_url: str, management_url: str | None) -> ManagementEndpoint | None:
    """The management API of ``rabbitmq_url``'s broker and vhost; None when turned off (``""``).

    Without ``management_url`` it is assumed on the broker's host (port 15672, 15671 for amqps) with
    the AMQP credentials; a given URL's own credentials, if any, win over those. Both may list
    several URLs, comma-separated (one per cluster node): every node's API is then a candidate,
    in that order, with the first URL's vhost and credentials.
    """
    if management_url == "":
        return None
    amqp_urls = broker_urls(rabbitmq_url)
    if management_url is None:
        bases = [_single_endpoint(u, None) for u in amqp_urls]
    else:
        given = [u.strip() for u in management_url.split(",") if u.strip()]
        bases = [_single_endpoint(amqp_urls[0], u) for u in given]
    first = bases[0]
    others = tuple(dict.fromkeys(b.base_url for b in bases[1:] if b.base_url != first.base_url))
    return ManagementEndpoint(first.base_url, first.vhost, first.username, first.password, others)


def _single_endpoint(rabbitmq_url: str, management_url: str | None) -> ManagementEndpoint:
    amqp = urlsplit(rabbitmq_url)
    path = amqp.path[1:]
    vhost = unquote(path) if path else "/"
    username = unquote(amqp.username) if amqp.username is not None else "guest"
    password = unquote(amqp.password) if amqp.password is not None else "guest"
    if management_url is None:
        host = amqp.hostname or "localhost"
        if ":" in host:
            host = f"[{host}]"
        tls = amqp.scheme == "amqps"
        base = f"{'https' if tls else 'http'}://{host}:{15671 if tls else 15672}"
    else:
        given = urlsplit(management_url)
        if given.username is not None:
            username = unquote(given.username)
            password = unquote(given.password or "")
        netloc = given.netloc.rsplit("@", 1)[-1]
        base = urlunsplit((given.scheme, netloc, given.path.rstrip("/"), "", ""))
    return ManagementEndpoint(base, vhost, username, password)


class QueueDepthGauges:
    """Fill ``omni_queue_messages`` for ``queues`` from one management API call."""

    def __init__(
        self,
        endpoint: ManagementEndpoint,
        queues: Iterable[str],
        *,
        timeout_s: float = 2.0,
        min_interval_s: float = 1.0,
    ) -> None:
        self._endpoint = endpoint
        self._queues = frozenset(queues)
        path = f"/api/queues/{quote(endpoint.vhost, safe='')}"
        self._urls = [f"{base}{path}" for base in endpoint.base_urls]
        self._current = 0
        self._http = httpx.AsyncClient(
            auth=(endpoint.username, endpoint.password), timeout=httpx.Timeout(timeout_s)
        )
        # Scrapes arriving together (several Prometheus servers) share one call.
        self._lock = asyncio.Lock()
        self._min_interval_s = min_interval_s
        self._last_ok: float | None = None

    async def refresh(self) -> bool:
        """Read the depths now; False (and the gauges unchanged) when no management API answered."""
        async with self._lock:
            if self._last_ok is not None and time.monotonic() - self._last_ok < self._min_interval_s:
                return True
            failure: Exception | None = None
            # The node that answered last goes first; the others follow in the configured order.
            for i in range(len(self._urls)):
                at = (self._current + i) % len(self._urls)
                try:
                    updates = await self._read(self._urls[at])
                except (httpx.HTTPError, ValueError, TypeError, KeyError) as exc:
                    failure = exc
                    continue
                self._current = at
                for name, state, value in updates:
                    QUEUE_MESSAGES.labels(name, state).set(value)
                self._last_ok = time.monotonic()
                return True
            QUEUE_DEPTH_ERRORS.inc()
            # The error class and status only: no URL (it names the vhost) and never credentials.
            status = failure.response.status_code if isinstance(failure, httpx.HTTPStatusError) else None
            log.warning("queue_depth_unavailable", error_class=type(failure).__name__, status=status)
            return False

    async def _read(self, url: str) -> list[tuple[str, str, int]]:
        response = await self._http.get(
            url,
            params={
                "disable_stats": "true",
                "enable_queue_totals": "true",
                "columns": "name,messages_ready,messages_unacknowledged",
            },
        )
        response.raise_for_status()
        rows = response.json()
        return [
            (row["name"], state, int(row[column]))
            for row in rows
            if row.get("name") in self._queues
            for state, column in _STATES
            if row.get(column) is not None
        ]

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()
