"""What Meta answered, kept apart from the tenant database until the database has it.

A send is committed ``sending`` before Meta is called, and a redelivered ``sending`` whose call
started (``fence.py``) is never sent again: it may have reached Meta. But when Meta's answer came
back and only *our* side failed to record it (the database full or down for a moment, a channel
closed by our own error), the answer is known: it is written here first, the moment it arrives, and
a redelivery finds it and completes the send as ``sent`` with the platform's id. Only a call whose
answer never came back (a timeout, a reset) ends "may have been delivered" (``outcome_unknown``).

Two homes: Redis when the sender shares pacing through it (every replica sees every answer, and
one survives the process that got it), else this process's memory (survives our own retries and
redeliveries to this process, not its crash). Entries expire after a day: far longer than any
redelivery takes.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
import structlog

log = structlog.get_logger(__name__)

KEEP_S = 24 * 3600


@dataclass(frozen=True)
class Answer:
    """Meta accepted the message: its id there, and when we sent it."""

    external_message_id: str
    platform_timestamp: datetime


class AcceptanceJournal(Protocol):
    """Where Meta's acceptances wait until the tenant database has recorded them."""

    async def remember(self, tenant_id: uuid.UUID, message_id: uuid.UUID, answer: Answer) -> None:
        """Keep the answer (best effort: a failure is logged, the send goes on)."""
        ...

    async def recall(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> Answer | None:
        """The answer kept for this message, if any."""
        ...

    async def forget(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> None:
        """The database has it now."""
        ...


def _key(tenant_id: uuid.UUID, message_id: uuid.UUID) -> str:
    return f"{tenant_id}:{message_id}"


def _encode(answer: Answer) -> bytes:
    return orjson.dumps({"id": answer.external_message_id, "at": answer.platform_timestamp.isoformat()})


def _decode(raw: bytes | str) -> Answer:
    data = orjson.loads(raw)
    return Answer(str(data["id"]), datetime.fromisoformat(data["at"]).astimezone(UTC))


class MemoryJournal:
    """This process's answers (one replica, or Redis not configured)."""

    def __init__(self, keep_s: float = KEEP_S) -> None:
        self._keep_s = keep_s
        self._answers: dict[str, tuple[float, Answer]] = {}

    async def remember(self, tenant_id: uuid.UUID, message_id: uuid.UUID, answer: Answer) -> None:
        now = time.monotonic()
        if len(self._answers) > 10_000:  # bounded: drop what has expired
            self._answers = {k: v for k, v in self._answers.items() if v[0] > now}
        self._answers[_key(tenant_id, message_id)] = (now + self._keep_s, answer)

    async def recall(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> Answer | None:
        found = self._answers.get(_key(tenant_id, message_id))
        return found[1] if found is not None and found[0] > time.monotonic() else None

    async def forget(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> None:
        self._answers.pop(_key(tenant_id, message_id), None)


class RedisJournal:
    """Answers in Redis (``redis.asyncio.Redis``), shared by every sender replica."""

    def __init__(self, client: Any, *, prefix: str = "omni:accepted:") -> None:
        self._client = client
        self._prefix = prefix

    async def remember(self, tenant_id: uuid.UUID, message_id: uuid.UUID, answer: Answer) -> None:
        try:
            await self._client.set(self._prefix + _key(tenant_id, message_id), _encode(answer), ex=KEEP_S)
        except Exception as exc:  # the database write comes next and usually succeeds: go on
            log.warning("acceptance_not_journaled", error=f"{type(exc).__name__}: {exc}"[:200])

    async def recall(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> Answer | None:
        try:
            raw = await self._client.get(self._prefix + _key(tenant_id, message_id))
        except Exception as exc:
            log.warning("acceptance_journal_unreadable", error=f"{type(exc).__name__}: {exc}"[:200])
            return None
        return None if raw is None else _decode(raw)

    async def forget(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> None:
        try:
            await self._client.delete(self._prefix + _key(tenant_id, message_id))
        except Exception:  # it expires by itself
            log.debug("acceptance_journal_forget_failed")
