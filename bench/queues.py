"""Queue depth over time, from the RabbitMQ management API, and a drain check over AMQP."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import quote

import aio_pika

from bench.background import BackgroundLoop
from bench.env import mgmt_client

WATCHED = ("ingress.raw", "normalizer.events")


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
        return out
    finally:
        await connection.close()


async def wait_drained(amqp_url: str, timeout: float) -> float:
    """Wait until both queues stay empty for 2 s; return the seconds waited."""
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
    return time.monotonic() - start
