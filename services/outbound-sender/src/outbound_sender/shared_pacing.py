"""Pacing shared by every sender replica through Redis: the same GCRA as ``pacing.reserve``, run atomically.

Why shared: Meta's budgets (80 msg/s per WhatsApp number, 1 msg / 6 s per customer) belong to the
account, not to a process; N replicas with local buckets would allow N times the budget. One Lua script
per reservation reads and moves the key's TAT atomically, on Redis's clock (``TIME``) so replicas whose
clocks drift still agree. If Redis is unreachable the sender falls back to local pacing (and says so):
sending on with a per-replica budget beats stopping, and Meta's 429s are still retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from outbound_sender.pacing import Pacer, Rate

log = structlog.get_logger(__name__)

# KEYS[1]=key  ARGV: interval, tolerance, max_wait  -> {granted 0|1, wait as string}
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval, tolerance, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
if wait > max_wait then return {0, tostring(wait)} end
local new_tat = tat + interval
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return {1, tostring(wait)}
"""

# KEYS[1]=key  ARGV: seconds, tolerance  -> OK
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local until_tat = now + tonumber(ARGV[1]) + tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if until_tat > tat then
  redis.call('SET', KEYS[1], tostring(until_tat), 'PX', math.ceil((until_tat - now) * 1000) + 1000)
end
return 1
"""


class RedisPacer:
    """Pacer whose state lives in Redis (``redis.asyncio.Redis``), shared by all replicas."""

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "omni:pace:",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._sleep = sleep
        self._reserve = client.register_script(_RESERVE)
        self._hold = client.register_script(_HOLD)

    async def acquire(self, key: str, rate: Rate, max_wait_s: float) -> float | None:
        """Reserve a shared slot and sleep until it comes; None when the wait exceeds ``max_wait_s``."""
        granted, wait = await self._reserve(
            keys=[self._prefix + key], args=[rate.interval, rate.tolerance, max_wait_s]
        )
        if not int(granted):
            return None
        seconds = float(wait)
        if seconds > 0:
            await self._sleep(seconds)
        return seconds

    async def hold(self, key: str, seconds: float, rate: Rate) -> None:
        """Make every replica wait ``seconds`` before the key's next send."""
        await self._hold(keys=[self._prefix + key], args=[seconds, rate.tolerance])


class FallbackPacer:
    """Use ``primary`` (shared); on its failure use ``fallback`` (local) for that call."""

    def __init__(self, primary: Pacer, fallback: Pacer) -> None:
        self._primary = primary
        self._fallback = fallback

    async def acquire(self, key: str, rate: Rate, max_wait_s: float) -> float | None:
        """Shared reservation, or a local one while the shared store is unreachable."""
        try:
            return await self._primary.acquire(key, rate, max_wait_s)
        except Exception as exc:  # Redis down or timing out: keep sending, paced per replica
            log.warning("shared_pacing_unavailable", error=type(exc).__name__)
            return await self._fallback.acquire(key, rate, max_wait_s)

    async def hold(self, key: str, seconds: float, rate: Rate) -> None:
        """Record the hold in both places (the local one survives a Redis outage)."""
        await self._fallback.hold(key, seconds, rate)
        try:
            await self._primary.hold(key, seconds, rate)
        except Exception as exc:
            log.warning("shared_pacing_unavailable", error=type(exc).__name__)
