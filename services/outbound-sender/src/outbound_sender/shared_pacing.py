"""Pacing shared by every sender replica through Redis: the same GCRA as ``pacing.reserve``, run atomically.

Why shared: Meta's budgets (80 msg/s per WhatsApp number, 1 msg / 6 s per customer) belong to the
account, not to a process; N replicas with local buckets would allow N times the budget. One Lua
script per send reads and moves its slots' TATs (account, then customer) atomically, on Redis's clock
(``TIME``) so replicas whose clocks drift still agree. If Redis is unreachable the sender falls back
to local pacing (and says so): sending on with a per-replica budget beats stopping, and Meta's 429s
are still retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from outbound_sender.pacing import Checks, Paced, Pacer, Rate

log = structlog.get_logger(__name__)

# KEYS: the slots in order. ARGV: max_wait, then interval and tolerance per key.
# -> {granted 0|1, total wait as string, 1-based index of the refusing key or 0}
# Same steps as ``pacing.reserve_all``: each slot as of the end of the previous one's wait, all or none.
# (The keys of one send are one account's; on Redis Cluster they would need a common hash tag.)
_RESERVE_ALL = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local max_wait = tonumber(ARGV[1])
local at = now
local new_tats = {}
for i = 1, #KEYS do
  local interval, tolerance = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or at)
  if tat < at then tat = at end
  local wait = tat - tolerance - at
  if wait < 0 then wait = 0 end
  if wait > max_wait then return {0, tostring(at + wait - now), i} end
  new_tats[i] = tat + interval
  at = at + wait
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], tostring(new_tats[i]), 'PX', math.ceil((new_tats[i] - now) * 1000) + 1000)
end
return {1, tostring(at - now), 0}
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
        self._reserve_all = client.register_script(_RESERVE_ALL)
        self._hold = client.register_script(_HOLD)

    async def acquire_all(self, checks: Checks, max_wait_s: float) -> Paced:
        """Reserve every shared slot in one round trip (all or none) and sleep until the last comes."""
        args: list[float] = [max_wait_s]
        for _, rate in checks:
            args += [rate.interval, rate.tolerance]
        keys = [self._prefix + k for k, _ in checks]
        granted, wait, refused = await self._reserve_all(keys=keys, args=args)
        seconds = float(wait)
        if not int(granted):
            return Paced(False, seconds, checks[int(refused) - 1][0])
        if seconds > 0:
            await self._sleep(seconds)
        return Paced(True, seconds)

    async def hold(self, key: str, seconds: float, rate: Rate) -> None:
        """Make every replica wait ``seconds`` before the key's next send."""
        await self._hold(keys=[self._prefix + key], args=[seconds, rate.tolerance])


class FallbackPacer:
    """Use ``primary`` (shared); on its failure use ``fallback`` (local) for that call."""

    def __init__(self, primary: Pacer, fallback: Pacer) -> None:
        self._primary = primary
        self._fallback = fallback

    async def acquire_all(self, checks: Checks, max_wait_s: float) -> Paced:
        """Shared reservation, or a local one while the shared store is unreachable."""
        try:
            return await self._primary.acquire_all(checks, max_wait_s)
        except Exception as exc:  # Redis down or timing out: keep sending, paced per replica
            log.warning("shared_pacing_unavailable", error=type(exc).__name__)
            return await self._fallback.acquire_all(checks, max_wait_s)

    async def hold(self, key: str, seconds: float, rate: Rate) -> None:
        """Record the hold in both places (the local one survives a Redis outage)."""
        await self._fallback.hold(key, seconds, rate)
        try:
            await self._primary.hold(key, seconds, rate)
        except Exception as exc:
            log.warning("shared_pacing_unavailable", error=type(exc).__name__)
