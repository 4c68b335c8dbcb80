"""The fence of a claim: whether its attempt ever called Meta, kept where every replica can read it.

A send is claimed (``queued`` -> ``sending``, ``send_attempted_at`` = the claim's own time) before it
waits for its pacing slot and uploads its file, so a sender that dies leaves claims that never
reached Meta next to the one or two whose call had started. The message row cannot tell them apart;
this fence does. Right before the call the attempt marks its claim ``started``; a redelivery that
finds the message still ``sending`` (past the in-flight grace) marks it ``abandoned``. Both marks are
``SET NX``: whichever comes first wins, so exactly one of "the call starts" and "the message is
requeued" happens, and a requeued reply is sent once while a started one is never sent again.

Why its own round trip: the mark must be in place before the request leaves, and atomic against
the reconciler; one ``SET NX`` per send (~0.2 ms on the same network) is cheap next to Meta's call.

Two homes, chosen in ``main.py``: Redis when the sender shares pacing through it, else none at all
(``NoFence``). Only a store that outlives the process makes a missing mark evidence; in memory a
crash loses the marks with the claims, so there a ``sending`` message keeps ending "may have been
delivered". Marks expire after a day, far longer than any redelivery takes; the guarantee assumes
Redis keeps them that long (docs/reliability.md).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

log = structlog.get_logger(__name__)

KEEP_S = 24 * 3600
STARTED = "started"
ABANDONED = "abandoned"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Claim:
    """One attempt's ownership of a message: the row is ``sending`` since ``attempted_at``."""

    tenant_id: uuid.UUID
    message_id: uuid.UUID
    attempted_at: datetime

    def key(self) -> str:
        # Microseconds since the epoch: PostgreSQL keeps exactly these, whatever the session's zone.
        micros = (self.attempted_at - _EPOCH) // _MICROSECOND
        return f"{self.tenant_id}:{self.message_id}:{micros}"


class FenceUnavailable(Exception):
    """The fence's store cannot be reached: nobody can know whether the claim started."""


class SendFence(Protocol):
    """Where a claim's call is marked started, or the claim abandoned, first one wins."""

    async def start(self, claim: Claim) -> bool:
        """Mark the claim started: True, call Meta; False, it was abandoned (do not call, do not touch
        the row: the requeued message belongs to another attempt). ``FenceUnavailable`` if unknown."""
        ...

    async def abandon(self, claim: Claim) -> bool | None:
        """Mark the claim abandoned: True, its call never started and never will (abandoned now or
        before); False, its call started; None, no evidence either way."""
        ...


class NoFence:
    """No shared store: every claim may call, and nothing is evidence that a call never started."""

    async def start(self, claim: Claim) -> bool:
        return True

    async def abandon(self, claim: Claim) -> bool | None:
        return None


# KEYS[1]=fence  ARGV: mark, seconds  -> 1 when set, else the mark already there.
_MARK = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
return redis.call('GET', KEYS[1])
"""


class RedisFence:
    """Marks in Redis (``redis.asyncio.Redis``), shared by every sender replica."""

    def __init__(self, client: Any, *, prefix: str = "omni:fence:") -> None:
        self._prefix = prefix
        self._mark = client.register_script(_MARK)

    async def _set(self, claim: Claim, mark: str) -> str | None:
        """Set the claim's ``mark`` if it has none (None), else the mark it has."""
        try:
            found = await self._mark(keys=[self._prefix + claim.key()], args=[mark, KEEP_S])
        except Exception as exc:  # Redis down or timing out
            raise FenceUnavailable(f"{type(exc).__name__}: {exc}"[:200]) from exc
        if found == 1:
            return None
        return found.decode() if isinstance(found, bytes) else str(found)

    async def start(self, claim: Claim) -> bool:
        return await self._set(claim, STARTED) is None  # a mark already there: not this attempt's

    async def abandon(self, claim: Claim) -> bool | None:
        try:
            found = await self._set(claim, ABANDONED)
        except FenceUnavailable as exc:
            log.warning("send_fence_unavailable", step="abandon", error=str(exc))
            return None
        return found is None or found == ABANDONED  # abandoned before: requeuing it is still safe
