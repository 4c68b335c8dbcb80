"""Proactive pacing: a GCRA token bucket per key (account, or account + customer), so bursts never trip Meta.

GCRA keeps one number per key, the "theoretical arrival time" (TAT): a send is allowed once
``now >= tat - tolerance`` where ``tolerance = (burst - 1) / rate``; allowing it moves the TAT one
interval (``1 / rate``) forward. That single float is what makes the limit easy to share through Redis
(``shared_pacing.RedisPacer``); the in-memory pacer here is exact for one process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Rate:
    """``per_second`` sends on average, with up to ``burst`` back to back."""

    per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError("rate must be positive and burst at least 1")

    @property
    def interval(self) -> float:
        """Seconds between sends at the steady rate."""
        return 1.0 / self.per_second

    @property
    def tolerance(self) -> float:
        """How far ahead of the steady schedule a burst may run."""
        return (self.burst - 1) * self.interval


@dataclass(frozen=True)
class Reservation:
    """Outcome of ``reserve``: wait ``wait_s`` then send; ``granted`` False means "too long, do not wait"."""

    granted: bool
    wait_s: float
    new_tat: float | None  # the TAT to store when granted


def reserve(tat: float | None, now: float, rate: Rate, max_wait_s: float) -> Reservation:
    """Pure GCRA step: reserve one send slot unless it would mean waiting more than ``max_wait_s``."""
    current = now if tat is None else max(tat, now)
    wait = max(0.0, current - rate.tolerance - now)
    if wait > max_wait_s:
        return Reservation(False, wait, None)
    return Reservation(True, wait, current + rate.interval)


@dataclass(frozen=True)
class Paced:
    """Outcome of taking several slots at once: wait ``wait_s`` then send, or ``refused_key`` (none taken)."""

    granted: bool
    wait_s: float
    refused_key: str | None = None


Checks = Sequence[tuple[str, Rate]]


def reserve_all(
    tats: Sequence[float | None], now: float, checks: Checks, max_wait_s: float
) -> tuple[Paced, list[float]]:
    """Pure GCRA over several slots, taken in order as if one after the other's wait: all or none.

    Each slot is reserved at the time the previous one's wait ends, exactly as separate calls with a
    sleep between them would, and none may wait more than ``max_wait_s``. If one refuses, nothing is
    taken (separate calls would have spent the earlier slots on a send that does not happen).
    Returns the outcome and, when granted, the TAT to store per slot.
    """
    at = now
    new_tats: list[float] = []
    for tat, (key, rate) in zip(tats, checks, strict=True):
        res = reserve(tat, at, rate, max_wait_s)
        if not res.granted:
            return Paced(False, at + res.wait_s - now, key), []
        assert res.new_tat is not None
        new_tats.append(res.new_tat)
        at += res.wait_s
    return Paced(True, at - now), new_tats


def hold_tat(tat: float | None, until: float, rate: Rate) -> float:
    """TAT that makes the next send wait until ``until`` (Meta asked us to back off till then)."""
    return max(tat or 0.0, until + rate.tolerance)


class Pacer(Protocol):
    """Pacing state: ``acquire_all`` takes every slot a send needs (and sleeps), or none of them."""

    async def acquire_all(self, checks: Checks, max_wait_s: float) -> Paced: ...

    async def hold(self, key: str, seconds: float, rate: Rate) -> None: ...


class MemoryPacer:
    """Pacer for one process (tests, a single replica): exact, no I/O."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._tat: dict[str, float] = {}
        self._clock = clock
        self._sleep = sleep

    async def acquire_all(self, checks: Checks, max_wait_s: float) -> Paced:
        """Reserve every slot of ``checks`` (see ``reserve_all``) and sleep until the last one comes."""
        # Reserve and store before sleeping (no await in between), so concurrent callers queue up.
        tats = [self._tat.get(k) for k, _ in checks]
        paced, new_tats = reserve_all(tats, self._clock(), checks, max_wait_s)
        if not paced.granted:
            return paced
        for (key, _), tat in zip(checks, new_tats, strict=True):
            self._tat[key] = tat
        if paced.wait_s > 0:
            await self._sleep(paced.wait_s)
        return paced

    async def hold(self, key: str, seconds: float, rate: Rate) -> None:
        """Make ``key`` wait ``seconds`` from now before its next send."""
        self._tat[key] = hold_tat(self._tat.get(key), self._clock() + seconds, rate)
