"""Browse and replay the dead-letter queues of a topology.

Browsing takes every message with ``basic.get`` (unacked) and closes the channel at the end, which
puts back everything not acked: listing never removes anything. Replay publishes a message back to
its source queue with confirm, *then* acks it in the DLQ, so a crash in between duplicates at worst.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from omni_common.broker import headers as h
from omni_common.broker.outcomes import PublishError
from omni_common.broker.publisher import Publisher
from omni_common.broker.topology import Topology

log = structlog.get_logger(__name__)

# Called with the number done so far, every ``progress_every`` items (long replays and purges).
Progress = Callable[[int], None]


def _report(progress: Progress | None, every: int, done: int) -> None:
    if progress is not None and done % every == 0:
        progress(done)


PREVIEW_BYTES = 120
DELIVERY_LIMIT_REASON = "delivery_limit"


@dataclass(frozen=True)
class DeadLetterInfo:
    """What an operator needs to know about one dead-lettered message."""

    id: str
    queue: str
    source_queue: str
    reason: str
    detail: str
    dead_lettered_at: str | None
    routing_key: str
    correlation_id: str | None
    attempt: int
    body_size: int
    preview: str
    headers: dict[str, Any] = field(hash=False)
    body: bytes | None = field(default=None, repr=False, hash=False)  # only filled by ``show``

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the body, when present, as UTF-8 text with replacements)."""
        data = asdict(self)
        data["body"] = None if self.body is None else self.body.decode("utf-8", "replace")
        return data


@dataclass
class ReplayReport:
    """Outcome of a replay: which messages went back, which could not."""

    dry_run: bool
    replayed: list[DeadLetterInfo] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (message id, error)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "dry_run": self.dry_run,
            "replayed": [i.to_dict() for i in self.replayed],
            "failed": [{"id": i, "error": e} for i, e in self.failed],
        }


def _deaths(headers: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    deaths = headers.get("x-death")
    return [d for d in deaths if isinstance(d, Mapping)] if isinstance(deaths, list | tuple) else []


def _reason(headers: Mapping[str, Any]) -> str:
    if (reason := h.text(headers.get(h.DLQ_REASON))) is not None:
        return reason
    deaths = _deaths(headers)
    # Dead-lettered by the broker, not by us: the consumer died before acking too many times.
    if any(h.text(d.get("reason")) == DELIVERY_LIMIT_REASON for d in deaths):
        return DELIVERY_LIMIT_REASON
    if deaths:  # newest first
        return h.text(deaths[0].get("reason")) or "unknown"
    return h.text(headers.get("x-first-death-reason")) or "unknown"


def _original_routing_key(message: AbstractIncomingMessage, headers: Mapping[str, Any]) -> str:
    if (rk := h.text(headers.get(h.ROUTING_KEY))) is not None:
        return rk
    for death in _deaths(headers):
        keys = death.get("routing-keys")
        if isinstance(keys, list | tuple) and keys:
            return h.text(keys[0]) or ""
    return message.routing_key or ""


def _info(
    queue: str, topology: Topology, message: AbstractIncomingMessage, *, with_body: bool
) -> DeadLetterInfo:
    hdrs = dict(message.headers or {})
    deaths = _deaths(hdrs)
    at = h.text(hdrs.get(h.DEAD_LETTERED_AT))
    if at is None and deaths:
        t = deaths[0].get("time")
        at = t.isoformat() if isinstance(t, datetime) else h.text(t)
    source = h.text(hdrs.get(h.SOURCE_QUEUE)) or topology.stage_of_dlq(queue).queue
    return DeadLetterInfo(
        id=message.message_id or "",
        queue=queue,
        source_queue=source,
        reason=_reason(hdrs),
        detail=h.text(hdrs.get(h.DLQ_DETAIL)) or "",
        dead_lettered_at=at,
        routing_key=_original_routing_key(message, hdrs),
        correlation_id=message.correlation_id,
        attempt=h.as_int(hdrs.get(h.ATTEMPT), 1),
        body_size=len(message.body),
        preview=message.body[:PREVIEW_BYTES].decode("utf-8", "replace"),
        headers=h.jsonable(hdrs),
        body=message.body if with_body else None,
    )


def _dlqs(topology: Topology, queue: str | None) -> tuple[str, ...]:
    if queue is None:
        return topology.dlq_names
    if queue in topology.dlq_names:
        return (queue,)
    return (topology.stage(queue).dlq,)  # a stage name or a work queue name


async def _browse(
    connection: AbstractConnection, topology: Topology, queue: str | None, *, with_body: bool
) -> AsyncGenerator[tuple[DeadLetterInfo, AbstractIncomingMessage], None]:
    """Yield ``(info, message)`` for every message of the selected DLQs; unacked ones go back on exit."""
    taken: dict[str, list[AbstractIncomingMessage]] = {}
    channel = await connection.channel(publisher_confirms=False)
    try:
        for dlq in _dlqs(topology, queue):
            q = await channel.get_queue(dlq, ensure=True)
            # Take the whole queue first: a replayed message that fails fast again must not be re-read.
            messages = taken[dlq] = []
            while (m := await q.get(no_ack=False, fail=False)) is not None:
                messages.append(m)
            for m in messages:
                yield _info(dlq, topology, m, with_body=with_body), m
    finally:
        # Put back everything taken and not acked: browsing changes nothing. An explicit requeue is
        # applied at once; the implicit one of a closing channel was seen lagging by seconds.
        back = {dlq: [m for m in ms if not m.processed] for dlq, ms in taken.items()}
        with contextlib.suppress(Exception):
            for m in (m for ms in back.values() for m in ms):
                await m.nack(requeue=True)
        with contextlib.suppress(Exception):
            await channel.close()
        await _settle(connection, {dlq: len(ms) for dlq, ms in back.items()})


async def _settle(connection: AbstractConnection, expected: dict[str, int], wait_s: float = 2.0) -> None:
    """Wait until the requeued messages are ready again, so a following browse sees them all."""
    # A quorum queue applies requeues asynchronously (seconds late on a loaded broker); without this
    # wait, `list` then `show` in one process could miss messages that are merely on their way back.
    # Best effort: the count can lag too, so give up after `wait_s` with a warning.
    expected = {dlq: n for dlq, n in expected.items() if n}
    if not expected:
        return
    deadline = asyncio.get_running_loop().time() + wait_s
    async with connection.channel(publisher_confirms=False) as channel:
        for dlq, n in expected.items():
            while True:
                q = await channel.declare_queue(dlq, passive=True)
                # Only this tool takes from DLQs, so the count can only be short while requeues land.
                count = q.declaration_result.message_count or 0
                if count >= n:
                    break
                if asyncio.get_running_loop().time() > deadline:
                    log.warning("dlq_requeue_slow", dlq=dlq, expected=n, ready=count)
                    return
                await asyncio.sleep(0.02)


@dataclass(frozen=True)
class Selection:
    """Which dead letters an operation applies to; every given criterion must match."""

    ids: frozenset[str] | None = None
    reason: str | None = None
    tenant: str | None = None  # tenant id (events routed to a tenant carry it)
    channel: str | None = None
    older_than_s: float | None = None

    def matches(self, info: DeadLetterInfo, now: datetime | None = None) -> bool:
        """True when ``info`` is selected."""
        if self.ids is not None and info.id not in self.ids:
            return False
        if self.reason is not None and info.reason != self.reason:
            return False
        if self.tenant is not None and info.headers.get("x-omni-tenant-id") != self.tenant:
            return False
        if self.channel is not None and self.channel not in (
            info.headers.get("x-omni-channel"),
            info.routing_key.rsplit(".", 1)[-1],
        ):
            return False
        if self.older_than_s is not None:
            try:
                at = datetime.fromisoformat(info.dead_lettered_at or "")
            except ValueError:
                return False  # age unknown: never selected by an age filter
            if at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
            if ((now or datetime.now(UTC)) - at).total_seconds() < self.older_than_s:
                return False
        return True


async def list_dead_letters(
    connection: AbstractConnection,
    topology: Topology,
    *,
    queue: str | None = None,
    reason: str | None = None,
    where: Selection | None = None,
) -> list[DeadLetterInfo]:
    """List dead letters of every DLQ (or one queue's), optionally only the selected ones."""
    selection = where or Selection(reason=reason)
    return [
        info
        async for info, _ in _browse(connection, topology, queue, with_body=False)
        if selection.matches(info)
    ]


def counts_by_queue_and_reason(infos: Iterable[DeadLetterInfo]) -> list[dict[str, Any]]:
    """``[{"queue", "reason", "count"}]``, largest count first (then by queue and reason)."""
    counted = Counter((i.queue, i.reason) for i in infos)
    return [
        {"queue": queue, "reason": reason, "count": n}
        for (queue, reason), n in sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


async def purge(
    connection: AbstractConnection,
    topology: Topology,
    *,
    where: Selection,
    queue: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    progress_every: int = 500,
) -> list[DeadLetterInfo]:
    """Remove the selected dead letters for good (the rest stay); returns what was (or would be) removed."""
    removed: list[DeadLetterInfo] = []
    # aclosing: if anything raises midway, what was taken goes back to its DLQ at once, not at GC.
    async with contextlib.aclosing(_browse(connection, topology, queue, with_body=False)) as items:
        async for info, message in items:
            if not where.matches(info):
                continue
            if not dry_run:
                await message.ack()
                log.warning("dlq_purged", message_id=info.id, dlq=info.queue, reason=info.reason)
            removed.append(info)
            _report(progress, progress_every, len(removed))
    return removed


async def show(connection: AbstractConnection, topology: Topology, message_id: str) -> DeadLetterInfo | None:
    """Return one dead letter with its full body, or None."""
    async with contextlib.aclosing(_browse(connection, topology, None, with_body=True)) as items:
        async for info, _ in items:
            if info.id == message_id:
                return info
    return None


async def replay(
    connection: AbstractConnection,
    topology: Topology,
    publisher: Publisher,
    *,
    ids: Collection[str] | None = None,
    reason: str | None = None,
    queue: str | None = None,
    dry_run: bool = False,
    where: Selection | None = None,
    progress: Progress | None = None,
    progress_every: int = 500,
) -> ReplayReport:
    """Send matching dead letters (all when ``ids`` is None) back to their source queue, attempt 1."""
    report = ReplayReport(dry_run=dry_run)
    selection = where or Selection(ids=None if ids is None else frozenset(ids), reason=reason)
    # aclosing: if anything raises midway, what was taken goes back to its DLQ at once, not at GC.
    # A replay that dies after a publish and before its ack leaves the letter to be replayed again:
    # the copy and the letter then both arrive, and the handlers' idempotency absorbs the repeat.
    async with contextlib.aclosing(_browse(connection, topology, queue, with_body=False)) as items:
        async for info, message in items:
            if not selection.matches(info):
                continue
            if dry_run:
                report.replayed.append(info)
                continue
            hdrs = h.for_replay(message.headers)
            hdrs[h.ROUTING_KEY] = info.routing_key  # keep the channel-bearing key for the handler
            try:
                await publisher.publish_to_queue(
                    info.source_queue,
                    message.body,
                    message_id=info.id,
                    correlation_id=info.correlation_id,
                    headers=hdrs,
                )
            except PublishError as exc:
                log.error("dlq_replay_failed", message_id=info.id, dlq=info.queue, error=str(exc))
                report.failed.append((info.id, str(exc)))
                continue
            await message.ack()
            log.info("dlq_replayed", message_id=info.id, dlq=info.queue, source_queue=info.source_queue)
            report.replayed.append(info)
            _report(progress, progress_every, len(report.replayed))
    return report
