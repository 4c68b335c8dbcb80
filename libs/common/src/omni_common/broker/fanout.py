"""Best-effort fan-out (live notifications) from one background task, off the handlers' path.

A handler offers a message and goes on; one task publishes the queue in order. Under load this
replaces a task per notification (thousands of them, each waiting on a saturated event loop) with
one. The queue is bounded: when it is full the oldest notifications are dropped and counted, since
a lost live notification costs the inbox a refresh, never data.

With a ``join``, the notes offered within a short window go out as one message per group (a tenant):
a batch of 200 statuses is one publish instead of 200. ``coalesce`` is that grouping, pure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
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
    group: str | None = None  # notes of one group may share a message; None: always alone


Send = Callable[[Note], Awaitable[None]]
Join = Callable[[list[Note]], Note]  # two or more notes of one group -> the one message carrying them

WINDOW_S = 0.005  # how long the first note waits for company (the latency a live event gains, at most)
MAX_NOTES = 200
MAX_BYTES = 64 * 1024  # of the notes' bodies in one message


def coalesce(notes: Sequence[Note], *, max_notes: int, max_bytes: int) -> list[list[Note]]:
    """``notes`` in batches of one group each, in order within a group, each within both bounds.

    A note larger than ``max_bytes`` on its own goes alone. Batches come out in the order their
    first note was offered, so every group's notes leave in the order they came.
    """
    out: list[list[Note]] = []
    open_: dict[str, tuple[int, int]] = {}  # group -> (its open batch in ``out``, that batch's bytes)
    for note in notes:
        if note.group is None:
            out.append([note])
            continue
        at = open_.get(note.group)
        if at is not None:
            index, size = at
            batch = out[index]
            if len(batch) < max_notes and size + len(note.body) <= max_bytes:
                batch.append(note)
                open_[note.group] = (index, size + len(note.body))
                continue
        out.append([note])
        open_[note.group] = (len(out) - 1, len(note.body))
    return out


class Fanout:
    """``offer`` returns at once; ``run`` publishes what was offered, oldest first (per group, with
    ``join``: notes of different groups may overtake each other within one window)."""

    def __init__(
        self,
        send: Send,
        *,
        limit: int = 10_000,
        join: Join | None = None,
        window_s: float = WINDOW_S,
        max_notes: int = MAX_NOTES,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self._send = send
        self._queue: deque[Note] = deque()
        self._limit = limit
        self._join = join
        self._window_s = window_s
        self._max_notes = max_notes
        self._max_bytes = max_bytes
        self._taken = 0  # notes taken off the queue for the batches being published
        self._ready = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Notes offered and not yet published."""
        return len(self._queue) + self._taken

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
            if self._join is not None and self._window_s > 0:
                # The notes of one committed batch are offered by its handlers one after the other:
                # a short wait lets them all arrive and leave together.
                await asyncio.sleep(self._window_s)
            while self._queue:
                if self._join is None:
                    await self._publish([self._queue.popleft()])
                    continue
                taken = list(self._queue)
                self._queue.clear()
                self._taken = len(taken)
                for batch in coalesce(taken, max_notes=self._max_notes, max_bytes=self._max_bytes):
                    await self._publish(batch)
                    self._taken -= len(batch)
            self._drained.set()

    async def _publish(self, batch: list[Note]) -> None:
        try:
            await self._send(batch[0] if len(batch) == 1 or self._join is None else self._join(batch))
        except Exception as exc:  # committed already: the inbox catches up on its next refresh
            DROPPED.inc(len(batch))
            log.warning("notification_not_published", notes=len(batch), error=f"{type(exc).__name__}: {exc}")
