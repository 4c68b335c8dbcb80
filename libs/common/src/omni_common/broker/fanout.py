"""Best-effort fan-out (live notifications) from one background task, off the handlers' path.

A handler offers a message and goes on; one task publishes the queue in order. Under load this
replaces a task per notification (thousands of them, each waiting on a saturated event loop) with
one. The queue is bounded: when it is full the oldest notifications are dropped and counted, since
a lost live notification costs the inbox a refresh, never data.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from prometheus_client import Counter

log = structlog.get_logger(__name__)

DROPPED = Counter(
    "omni_notifications_dropped_total", "Live notifications dropped (queue full or publish failed)"
)


@dataclass(frozen=True)
class Note:
    """One message to fan out."""

    body: bytes
    message_id: str
    correlation_id: str | None


Send = Callable[[Note], Awaitable[None]]


class Fanout:
    """``offer`` returns at once; ``run`` publishes what was offered, oldest first."""

    def __init__(self, send: Send, *, limit: int = 10_000) -> None:
        self._send = send
        self._queue: deque[Note] = deque()
        self._limit = limit
        self._ready = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Notes offered and not yet published."""
        return len(self._queue)

    def offer(self, note: Note) -> None:
        """Queue ``note``; drop the oldest one if the queue is full."""
        if len(self._queue) >= self._limit:
            self._queue.popleft()
            DROPPED.inc()
        self._queue.append(note)
        self._drained.clear()
        self._ready.set()

    def start(self) -> None:
        """Start the publishing task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def close(self, grace_s: float = 10.0) -> None:
        """Publish what is queued (for up to ``grace_s`` seconds), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), grace_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                note = self._queue.popleft()
                try:
                    await self._send(note)
                except Exception as exc:  # committed already: the inbox catches up on its next refresh
                    DROPPED.inc()
                    log.warning("notification_not_published", error=f"{type(exc).__name__}: {exc}")
            self._drained.set()
