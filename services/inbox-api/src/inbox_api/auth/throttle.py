"""Login throttling shared by every inbox replica (issue 23, item 2).

Failed sign-ins are counted in windows of 15 minutes, in Redis when ``OMNI_REDIS_URL`` is set (all
replicas see the same counts), else in this process (one replica):

- per **account and address** (restaurant + email + client IP): 5 failures, then that pair waits for
  the window — the guesser at one address is stopped, the real user elsewhere is not locked out;
- per **address**: 30 failures over any accounts, then the address waits — spraying many emails
  from one address stops;
- per **account** from anywhere: after 10 failures each further attempt is slowed (1, 2, 4… up to
  10 s before the password is even checked) but never refused — guessing from many addresses
  crawls, and the real user still gets in, a few seconds later;
- argon2 (64 MiB, deliberately slow) runs at most ``hash_slots`` at a time per replica; a sign-in
  that cannot get a slot within a few seconds is answered 429 with Retry-After, so a flood of
  attempts costs a queue, not the machine's memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

WINDOW_S = 900
PAIR_LIMIT = 5
ADDRESS_LIMIT = 30
ACCOUNT_SLOW_AFTER = 10
MAX_DELAY_S = 10.0
HASH_WAIT_S = 5.0

T = TypeVar("T")


@dataclass(frozen=True)
class Verdict:
    """Whether an attempt may go on now; if not, how long to wait; if slowed, by how much."""

    allowed: bool
    retry_after_s: int = 0
    delay_s: float = 0.0


def decide(pair: int, address: int, account: int, pair_ttl: int, address_ttl: int) -> Verdict:
    """The verdict from the failure counts (pure: the policy above, with the keys' remaining lives)."""
    if pair >= PAIR_LIMIT:
        return Verdict(False, max(1, pair_ttl))
    if address >= ADDRESS_LIMIT:
        return Verdict(False, max(1, address_ttl))
    if account >= ACCOUNT_SLOW_AFTER:
        return Verdict(True, delay_s=min(MAX_DELAY_S, 2.0 ** (account - ACCOUNT_SLOW_AFTER)))
    return Verdict(True)


class Counters(Protocol):
    """Failure counters with a window each (Redis, or this process's memory)."""

    async def read(self, keys: list[str]) -> list[tuple[int, int]]: ...  # (count, seconds left)
    async def add(self, keys: list[str], window_s: int) -> None: ...
    async def clear(self, key: str) -> None: ...


@dataclass
class MemoryCounters:
    """One replica's counters (no Redis configured); bounded so a spray of keys cannot fill memory."""

    clock: Callable[[], float] = time.monotonic
    max_keys: int = 100_000
    _kept: dict[str, tuple[int, float]] = field(default_factory=dict)

    async def read(self, keys: list[str]) -> list[tuple[int, int]]:
        now = self.clock()
        found = []
        for key in keys:
            count, until = self._kept.get(key, (0, now))
            found.append((count, int(until - now)) if until > now else (0, 0))
        return found

    async def add(self, keys: list[str], window_s: int) -> None:
        now = self.clock()
        for key in keys:
            count, until = self._kept.get(key, (0, now))
            self._kept[key] = (count + 1, until) if until > now else (1, now + window_s)
        while len(self._kept) > self.max_keys:
            del self._kept[next(iter(self._kept))]

    async def clear(self, key: str) -> None:
        self._kept.pop(key, None)


class RedisCounters:
    """Counters every replica shares: INCR, and the window set on the first failure (EXPIRE NX)."""

    def __init__(self, redis: Any, prefix: str = "omni:login:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def read(self, keys: list[str]) -> list[tuple[int, int]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(self._prefix + key)
                pipe.ttl(self._prefix + key)
            raw = await pipe.execute()
        return [(int(raw[i] or 0), max(0, int(raw[i + 1]))) for i in range(0, len(raw), 2)]

    async def add(self, keys: list[str], window_s: int) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.incr(self._prefix + key)
                pipe.expire(self._prefix + key, window_s, nx=True)
            await pipe.execute()

    async def clear(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


def _h(text: str) -> str:
    # Emails and addresses are not stored in Redis as they are: a short digest names the key.
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class LoginThrottle:
    """The sign-in's gate: ``check`` before the password, ``failed``/``succeeded`` after it, and
    ``hashing`` around the argon2 work."""

    def __init__(
        self,
        counters: Counters | None = None,
        *,
        hash_slots: int = 2,
        hash_wait_s: float = HASH_WAIT_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.counters: Counters = counters or MemoryCounters()
        self._slots = asyncio.Semaphore(hash_slots)
        self._hash_wait_s = hash_wait_s
        self._sleep = sleep

    @staticmethod
    def keys(tenant: str, email: str, address: str) -> tuple[str, str, str]:
        account = _h(f"{tenant.strip().lower()}|{email.strip().lower()}")
        return f"pair:{account}:{_h(address)}", f"addr:{_h(address)}", f"acct:{account}"

    async def check(self, tenant: str, email: str, address: str) -> Verdict:
        """May this attempt go on? Slowed attempts have already waited when this returns."""
        pair, addr, account = self.keys(tenant, email, address)
        (p, p_ttl), (a, a_ttl), (c, _) = await self.counters.read([pair, addr, account])
        verdict = decide(p, a, c, p_ttl, a_ttl)
        if verdict.allowed and verdict.delay_s:
            await self._sleep(verdict.delay_s)
        return verdict

    async def failed(self, tenant: str, email: str, address: str) -> None:
        await self.counters.add(list(self.keys(tenant, email, address)), WINDOW_S)

    async def succeeded(self, tenant: str, email: str, address: str) -> None:
        """The pair starts afresh; the account's and the address's failures stay counted."""
        await self.counters.clear(self.keys(tenant, email, address)[0])

    async def hashing(self, work: Callable[[], Awaitable[T]]) -> T | None:
        """Run the password work in one of the slots; None when none freed up in time (busy)."""
        try:
            await asyncio.wait_for(self._slots.acquire(), self._hash_wait_s)
        except TimeoutError:
            return None
        try:
            return await work()
        finally:
            self._slots.release()
