"""Group concurrently handled deliveries by a key and flush each group as one batch.

Consumers run one task per delivery (up to ``prefetch`` at once). A handler that submits its item
here waits while other deliveries with the same key (e.g. the same tenant) join it; a group is due
when it holds ``max_items`` or ``max_wait`` seconds after its first item, whichever comes first. At
most one flush per key runs at a time: groups that fall due meanwhile wait for it, so two
transactions of one key never compete for its rows or connections. The flush returns one outcome
per item (a value or an exception) and each submitter gets its own, so the consumer still acks,
retries or dead-letters every delivery on its own, after the commit.

No broker or database objects here: the flush function is the caller's.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import structlog

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")

# One outcome per item, in the order of the items: a result, or the exception for that item alone.
Flush = Callable[[K, list[T]], Awaitable[Sequence["R | BaseException"]]]

log = structlog.get_logger(__name__)


@dataclass
class _Group(Generic[T, R]):
    items: list[T] = field(default_factory=list)
    waiters: list[asyncio.Future[R]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    due: bool = False  # full or timed out: flushed as soon as its key has no flush running


class KeyedBatcher(Generic[K, T, R]):
    """Batch items per key; flush on size or time; hand each submitter its own outcome."""

    def __init__(self, flush: Flush[K, T, R], *, max_items: int = 100, max_wait: float = 0.05) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        if max_wait < 0:
            raise ValueError("max_wait must not be negative")
        self._flush = flush
        self._max_items = max_items
        self._max_wait = max_wait
        self._groups: dict[K, deque[_Group[T, R]]] = {}  # per key, oldest first; the last one fills
        self._busy: set[K] = set()  # keys with a flush under way
        self._running: set[asyncio.Task[None]] = set()  # strong references until each flush ends

    @property
    def pending(self) -> int:
        """Items waiting for their group to flush (not counting flushes under way)."""
        return sum(len(g.items) for q in self._groups.values() for g in q)

    async def submit(self, key: K, item: T) -> R:
        """Add ``item`` to ``key``'s group; return its outcome once the group is flushed (or raise it)."""
        loop = asyncio.get_running_loop()
        queue = self._groups.setdefault(key, deque())
        if not queue or len(queue[-1].items) >= self._max_items:
            group: _Group[T, R] = _Group()
            if self._max_wait > 0:
                group.timer = loop.call_later(self._max_wait, self._timed_out, key, group)
            queue.append(group)
        group = queue[-1]
        waiter: asyncio.Future[R] = loop.create_future()
        group.items.append(item)
        group.waiters.append(waiter)
        if len(group.items) >= self._max_items or self._max_wait == 0:
            group.due = True
            self._kick(key)
        return await waiter

    async def flush_all(self) -> None:
        """Flush every group now and wait for all flushes (e.g. before shutting down)."""
        while self._groups or self._running:
            for key, queue in list(self._groups.items()):
                for group in queue:
                    group.due = True
                self._kick(key)
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)

    def _timed_out(self, key: K, group: _Group[T, R]) -> None:
        group.timer = None
        group.due = True
        self._kick(key)

    def _kick(self, key: K) -> None:
        """Start the key's oldest group if it is due and the key has no flush running."""
        queue = self._groups.get(key)
        if key in self._busy or not queue or not queue[0].due:
            return
        group = queue.popleft()
        if not queue:
            del self._groups[key]
        if group.timer is not None:
            group.timer.cancel()
        self._busy.add(key)
        task = asyncio.ensure_future(self._run(key, group))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, key: K, group: _Group[T, R]) -> None:
        try:
            await self._flush_group(key, group)
        finally:
            self._busy.discard(key)
            self._kick(key)

    async def _flush_group(self, key: K, group: _Group[T, R]) -> None:
        try:
            outcomes = await self._flush(key, group.items)
            if len(outcomes) != len(group.items):
                raise RuntimeError(f"flush returned {len(outcomes)} outcomes for {len(group.items)} items")
        except asyncio.CancelledError:
            for waiter in group.waiters:
                waiter.cancel()
            raise
        except Exception as exc:  # every waiter must learn that its batch failed
            for waiter in group.waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        for waiter, outcome in zip(group.waiters, outcomes, strict=True):
            if waiter.done():
                continue  # its submitter was cancelled
            if isinstance(outcome, BaseException):
                waiter.set_exception(outcome)
            else:
                waiter.set_result(outcome)
