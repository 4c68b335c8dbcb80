"""Coalesce a channel's acks: one ``basic.ack(multiple=True)`` for a run of handled deliveries.

Each ack is a frame written to the socket (a system call, expensive in this VM) and, on a quorum
queue, a settle command in the queue's Raft log. Under load a consumer handles hundreds of
deliveries between two turns of the event loop, so one multiple ack replaces hundreds of frames.

Safety rests on one rule: a multiple ack of tag T covers every unsettled delivery up to T on the
channel, so it is sent only when every tag after the last one acked, up to T, has been handled here.
Delivery tags on a channel are consecutive from 1 and the channel carries one consumer, so the rule
is checked by arithmetic, never by the order in which handlers happened to start. A delivery
handled out of order waits at most ``hold`` seconds for those before it, then is acked on its own:
a slow delivery never keeps the others counted against the prefetch for long.

``AckWindow`` decides (pure: no I/O, the clock passed in); ``Acker`` sends, per aiormq channel.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

log = structlog.get_logger(__name__)

# How long handled deliveries wait to be acked together; a few ms adds nothing to any latency the
# product measures (a row is committed before its delivery is handled) and gathers most acks.
ACK_INTERVAL_S = 0.005
# How long a delivery handled out of order waits for the ones before it before it is acked alone.
# The normalizer finishes a tenant's batch at a time, so its deliveries complete out of order by up
# to a few hundred ms under load: with 0.1 s, 52 % of its acks still went alone; with 0.5 s, 9 %
# (bench run, 20 s). What is held counts against the prefetch for that long (≈ 200 of 1,000 there).
ACK_HOLD_S = 0.5


@dataclass(frozen=True)
class Ack:
    """One ``basic.ack`` to send."""

    tag: int
    multiple: bool


class AckWindow:
    """The acks one channel owes, given which delivery tags have been handled and when.

    Out-of-order ones are acked alone once they waited ``hold`` seconds, or as soon as more than
    ``max_held`` wait: held acks count against the prefetch, and a consumer with a small prefetch
    (the sender: 200, its deliveries finishing out of order behind pacing waits) would otherwise
    stop receiving while its window fills with finished work.
    """

    def __init__(self, *, hold: float = ACK_HOLD_S, max_held: int | None = None) -> None:
        self._hold = hold
        self._max_held = max_held
        self._upto = 0  # every tag up to this one is acked (or settled otherwise)
        self._ready: dict[int, float] = {}  # handled, not acked yet: tag -> when; oldest first
        self._gone: set[int] = set()  # past _upto, already acked alone or nacked

    @property
    def waiting(self) -> int:
        """Handled deliveries whose ack is not sent yet."""
        return len(self._ready)

    def handled(self, tag: int, now: float) -> None:
        """Delivery ``tag`` may be acked (its effect is committed)."""
        self._check_new(tag)
        self._ready[tag] = now

    def settled(self, tag: int) -> None:
        """Delivery ``tag`` was settled by the caller itself (e.g. nacked): never ack it.

        Call this only after that frame is queued on the channel, so a later multiple ack that
        spans the tag follows it.
        """
        self._check_new(tag)
        self._gone.add(tag)

    def take(self, now: float, *, everything: bool = False) -> list[Ack]:
        """The acks to send now, in order; ``everything`` also acks each out-of-order one at once."""
        acks: list[Ack] = []
        top = 0
        while True:
            nxt = self._upto + 1
            if self._ready.pop(nxt, None) is not None:
                top = nxt
            elif nxt in self._gone:
                self._gone.discard(nxt)
            else:
                break
            self._upto = nxt
        if top:
            acks.append(Ack(top, multiple=True))
        excess = len(self._ready) - self._max_held if self._max_held is not None else 0
        alone: list[int] = []
        for tag, at in self._ready.items():  # oldest first; usually stops at the first one
            if not everything and len(alone) >= excess and now - at < self._hold:
                break
            alone.append(tag)
        for tag in alone:
            del self._ready[tag]
            self._gone.add(tag)
            acks.append(Ack(tag, multiple=False))
        return acks

    def _check_new(self, tag: int) -> None:
        if tag <= self._upto or tag in self._ready or tag in self._gone:
            raise ValueError(f"delivery tag {tag} is already settled")


class AckChannel(Protocol):
    """What ``Acker`` needs of an aiormq channel."""

    @property
    def is_closed(self) -> bool: ...

    def basic_ack(self, delivery_tag: int, multiple: bool = False, wait: bool = True) -> Awaitable[None]: ...


class Acker:
    """Sends the acks of a consumer's deliveries in batches, from one background task.

    A delivery whose channel closed before its ack went out is redelivered by the broker (and the
    handlers are idempotent); its window is dropped with the channel.
    """

    def __init__(
        self, *, interval: float = ACK_INTERVAL_S, hold: float = ACK_HOLD_S, max_held: int | None = None
    ) -> None:
        self._interval = interval
        self._hold = hold
        self._max_held = max_held
        self._windows: dict[Any, AckWindow] = {}  # keyed by the aiormq channel object
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sending = asyncio.Lock()
        self._in_transit = 0  # acks taken from a window, frames not yet written

    @property
    def waiting(self) -> int:
        """Handled deliveries whose ack is not written to the socket yet."""
        return sum(w.waiting for w in self._windows.values()) + self._in_transit

    def start(self) -> None:
        """Start the sending task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    def handled(self, channel: AckChannel, tag: int) -> None:
        """Queue the ack of ``tag`` on ``channel``."""
        self._window(channel).handled(tag, asyncio.get_running_loop().time())
        self._wake.set()

    def settled(self, channel: AckChannel, tag: int) -> None:
        """``tag`` was settled by the caller (after its frame was queued): never ack it."""
        self._window(channel).settled(tag)

    async def close(self) -> None:
        """Send every ack still owed (out-of-order ones alone), then stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush(everything=True)

    async def flush(self, *, everything: bool = False) -> None:
        """Send what is due now."""
        async with self._sending:  # frames of one channel go out in the order they were decided
            now = asyncio.get_running_loop().time()
            for channel, window in list(self._windows.items()):
                if channel.is_closed:
                    self._drop(channel, window)
                    continue
                acks = window.take(now, everything=everything)
                self._in_transit += len(acks)
                try:
                    for i, ack in enumerate(acks):
                        # Only the last one waits for the socket: the frames are written in order.
                        await channel.basic_ack(ack.tag, multiple=ack.multiple, wait=i == len(acks) - 1)
                except Exception as exc:  # the channel went away: the broker redelivers these
                    log.info("acks_not_sent", error=f"{type(exc).__name__}: {exc}", pending=len(acks))
                    self._drop(channel, window)
                finally:
                    self._in_transit -= len(acks)

    def _window(self, channel: AckChannel) -> AckWindow:
        window = self._windows.get(channel)
        if window is None:
            window = self._windows[channel] = AckWindow(hold=self._hold, max_held=self._max_held)
        return window

    def _drop(self, channel: AckChannel, window: AckWindow) -> None:
        if self._windows.get(channel) is window:
            del self._windows[channel]

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:  # never let the sender die: the acks stay owed and are retried
                log.exception("ack_flush_failed")
            if not self.waiting:
                self._wake.clear()
