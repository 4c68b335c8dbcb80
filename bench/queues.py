"""Queue depth over time, from the RabbitMQ management API, and a drain check over AMQP."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import aio_pika
import aio_pika.abc
import aio_pika.exceptions

from bench.background import BackgroundLoop
from bench.env import mgmt_client

WATCHED = ("ingress.raw", "normalizer.events")
# With --shards, routed events wait in these instead of normalizer.events (counted as it).
SHARDS = "normalizer.events.shard."
SHARD_RETRIES = "normalizer.events.shards.retry."


@dataclass
class QueueSampler(BackgroundLoop):
    """``messages`` (ready + unacked) of the watched queues every ``interval`` seconds.

    The management API refreshes queue figures every ``collect_statistics_interval`` (5 s by default
    on RabbitMQ 3.10), so the curve is a step function at that resolution.
    """

    vhost: str
    interval: float = 1.0
    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)

    def _loop(self) -> None:
        with mgmt_client() as api:
            while not self._stop.is_set():
                try:
                    rows = api.get(
                        f"/api/queues/{quote(self.vhost, safe='')}",
                        params={"columns": "name,messages,messages_ready,messages_unacknowledged"},
                        timeout=5,
                    ).json()
                    depth = {r["name"]: int(r.get("messages") or 0) for r in rows if r["name"] in WATCHED}
                    sharded = sum(int(r.get("messages") or 0) for r in rows if r["name"].startswith(SHARDS))
                    if sharded:
                        depth["normalizer.events"] = depth.get("normalizer.events", 0) + sharded
                    self.samples.append((time.time(), depth))
                except Exception:  # noqa: S110 - a missed sample is not worth stopping the run for
                    pass
                self._stop.wait(self.interval)


async def ready_counts(amqp_url: str) -> dict[str, int]:
    """Exact ready counts of the watched queues (passive declare), not subject to the stats interval."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        out = {}
        for name in WATCHED:
            queue = await channel.declare_queue(name, passive=True)
            out[name] = int(queue.declaration_result.message_count or 0)
        out.update(await _shard_ready_counts(connection))
        return out
    finally:
        await connection.close()


async def _shard_ready_counts(connection: aio_pika.abc.AbstractConnection) -> dict[str, int]:
    """Ready counts of the shard queues, found by declaring shard 0, 1, ... until one is missing."""
    out: dict[str, int] = {}
    for i in itertools.count():
        channel = await connection.channel()  # a missing queue closes the channel that asked
        try:
            queue = await channel.declare_queue(f"{SHARDS}{i}", passive=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return out
        out[queue.name] = int(queue.declaration_result.message_count or 0)
        await channel.close()
    return out


async def wait_drained(
    amqp_url: str,
    timeout: float,
    vhost: str | None = None,
    settled: Callable[[], Awaitable[bool]] | None = None,
) -> float:
    """Wait until the pipeline holds nothing; return the seconds waited.

    First the exact ready counts (passive declares) must stay zero for 2 s. Those do not count what
    a consumer holds unacked (up to its prefetch, still being written) nor the retry queues, so with
    ``vhost`` the management API must then report zero messages (ready + unacked) in every pipeline
    queue, retry queues included, in two samples taken a stats interval apart, unless ``settled``
    (called once, after the ready counts) says every event sent is committed: whatever is still
    held then can only be a copy of committed work.
    """
    start = time.monotonic()
    empty_since: float | None = None
    while time.monotonic() - start < timeout:
        counts = await ready_counts(amqp_url)
        if sum(counts.values()) == 0:
            empty_since = empty_since or time.monotonic()
            if time.monotonic() - empty_since >= 2.0:
                break
        else:
            empty_since = None
        await asyncio.sleep(0.25)
    if settled is not None and await settled():
        return time.monotonic() - start
    if vhost is not None:
        quiet = 0
        while quiet < 2 and time.monotonic() - start < timeout:
            quiet = quiet + 1 if await asyncio.to_thread(_held, vhost) == 0 else 0
            if quiet < 2:
                await asyncio.sleep(STATS_INTERVAL_S)
    return time.monotonic() - start


STATS_INTERVAL_S = 5.5  # RabbitMQ's collect_statistics_interval (5 s) and a margin


def _held(vhost: str) -> int:
    """Messages (ready + unacked) in the watched queues and their retry queues, per the management API."""
    with mgmt_client() as api:
        rows = api.get(
            f"/api/queues/{quote(vhost, safe='')}", params={"columns": "name,messages"}, timeout=5
        ).json()
    return sum(
        int(r.get("messages") or 0)
        for r in rows
        if r["name"] in WATCHED
        or r["name"].startswith((SHARDS, SHARD_RETRIES, *(f"{w}.retry." for w in WATCHED)))
    )
