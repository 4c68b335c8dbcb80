"""Fakes of our own interfaces, for the handlers' unit tests (cosmicpython's ``tests/unit/fakes.py``).

Each one stands in for a protocol the services define (``normalizer.handler.TenantWrites``,
``normalizer.consume.EnrichRequests``/``Notifier``, ``outbound_sender.deps.SendStore``/``MessageSender``,
``outbound_sender.pacing.Pacer``, ``outbound_sender.fence.SendFence``, the router's ``resolve``/``emit``
callables), never for SQLAlchemy, psycopg or aio-pika: the real adapters are covered by the integration
tests on PostgreSQL and RabbitMQ.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from normalizer.model import AccountKey, AccountRow, Change, NewMessage
from omni_common.channels.inbound import InboundMessage, NormalizedEvent, StatusUpdate
from omni_common.contracts import EnrichMessage, NotificationEvent, RawWebhook, RoutedEvent
from omni_common.domain.channels import Channel
from omni_common.domain.reauth import Notice, reauth_events
from omni_common.errors import DatabaseUnavailable, TenantNotActive, TenantNotFound
from omni_common.graph import GraphError, MediaContent, SendResult, TemplateContent
from outbound_sender.fence import ABANDONED, STARTED, Claim, FenceUnavailable
from outbound_sender.pacing import Checks, Paced, Rate
from outbound_sender.store import Accepted, ClaimedJob, ReauthFailed, SendJob
from tenant_router.batches import RoutedBatch

# --- tenant-router ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """``tenant_router.decisions.AccountRoute``, as the catalog would answer it."""

    tenant_id: uuid.UUID
    tenant_status: str = "active"
    is_enabled: bool = True


@dataclass
class FakeRouting:
    """The router's ``resolve`` (a catalog of routes) and ``emit_routed``/``emit_refused`` (lists)."""

    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    routed: list[RoutedEvent] = field(default_factory=list)  # every routed event, in emit order
    messages: list[RoutedBatch] = field(default_factory=list)  # the messages that carried them
    refused: list[tuple[str, str, str | None]] = field(default_factory=list)  # (item, reason, account)
    dead: list[tuple[str, str]] = field(default_factory=list)  # (delivery id, reason): whole deliveries

    async def resolve(self, channel: str, account_id: str) -> Route | None:
        return self.routes.get((channel, account_id))

    async def emit_routed(self, batch: RoutedBatch) -> None:
        self.messages.append(batch)
        self.routed.extend(batch.events)

    async def emit_refused(
        self, _raw: RawWebhook, index: str, reason: str, _detail: str, account_id: str | None
    ) -> None:
        self.refused.append((index, reason, account_id))

    async def emit_dead(self, raw: RawWebhook, reason: str, _detail: str) -> None:
        self.dead.append((raw.delivery_id, reason))


# --- normalizer ------------------------------------------------------------------------------------


class Poisoned(Exception):
    """A write the fake database refuses (as PostgreSQL refuses a NUL character)."""


@dataclass
class FakeTenantStore:
    """``normalizer.handler.TenantWrites`` in memory: what is stored, and each call in order.

    ``outbound``: platform ids of messages we sent (statuses apply to them); ``poison``: platform
    ids whose write fails. Writes inside ``transaction()`` are kept only if it ends without error.
    """

    accounts: dict[AccountKey, AccountRow] = field(default_factory=dict)
    outbound: set[str] = field(default_factory=set)
    poison: set[str] = field(default_factory=set)
    stored: set[str] = field(default_factory=set)  # platform ids of the messages committed
    calls: list[str] = field(default_factory=list)
    _pending: list[str] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self.calls.append("begin")
        self._pending = []
        try:
            yield
        except BaseException:
            self.calls.append("rollback")
            raise
        else:
            self.stored.update(self._pending)
            self.calls.append("commit")
        finally:
            self._pending = None

    async def find_accounts(self, keys: set[AccountKey]) -> dict[AccountKey, AccountRow]:
        self.calls.append("find_accounts")
        return {k: self.accounts[k] for k in keys if k in self.accounts}

    async def touch_accounts(self, accounts: list[AccountRow]) -> None:
        if any(not a.webhook_recorded for a in accounts):
            self.calls.append("touch_accounts")

    async def store_messages(self, items: list[NewMessage]) -> list[Change | None]:
        if items:
            self.calls.append(f"store_messages:{len(items)}")
        return [self._store(item.msg) for item in items]

    async def apply_statuses(self, channel: Channel, events: list[StatusUpdate]) -> dict[str, Change]:
        self.calls.append(f"apply_statuses:{channel}:{len(events)}")
        return {e.external_message_id: _status(e) for e in events if e.external_message_id in self.outbound}

    async def apply(
        self, tenant_id: uuid.UUID, channel: Channel, account: AccountRow, item: NormalizedEvent
    ) -> list[Change]:
        self.calls.append(f"apply:{type(item).__name__}")
        if isinstance(item, InboundMessage):
            change = self._store(item)
            return [change] if change else []
        if isinstance(item, StatusUpdate):
            return [_status(item)] if item.external_message_id in self.outbound else []
        return [Change("message.updated", None, uuid.uuid4(), {"kind": type(item).__name__})]

    def _store(self, msg: InboundMessage) -> Change | None:
        if msg.external_message_id in self.poison:
            raise Poisoned(msg.external_message_id)
        if msg.external_message_id in self.stored or msg.external_message_id in (self._pending or ()):
            return None
        if self._pending is not None:
            self._pending.append(msg.external_message_id)
        else:
            self.stored.add(msg.external_message_id)
        return Change(
            "message.created", uuid.uuid4(), uuid.uuid4(), {"kind": msg.kind}, (), msg.external_message_id
        )


def _status(event: StatusUpdate) -> Change:
    return Change("message.status", uuid.uuid4(), uuid.uuid4(), {"status": event.status})


@dataclass
class FakeTenants:
    """``normalizer.handler.OpenTenant``: each tenant's store, or the catalog's refusal."""

    stores: dict[uuid.UUID, FakeTenantStore] = field(default_factory=dict)
    inactive: set[uuid.UUID] = field(default_factory=set)

    @asynccontextmanager
    async def connect(self, tenant_id: uuid.UUID) -> AsyncIterator[FakeTenantStore]:
        if tenant_id in self.inactive:
            raise TenantNotActive(f"tenant {tenant_id} is suspended")
        if tenant_id not in self.stores:
            raise TenantNotFound(f"tenant {tenant_id} does not exist")
        yield self.stores[tenant_id]


@dataclass
class FakeFollowUps:
    """``normalizer.consume.EnrichRequests`` and ``Notifier``: what would have been published."""

    requested: list[EnrichMessage] = field(default_factory=list)
    notified: list[tuple[NotificationEvent, str]] = field(default_factory=list)  # (event, key)

    async def request(self, command: EnrichMessage, *, correlation_id: str | None) -> None:
        self.requested.append(command)

    def notify(self, event: NotificationEvent, *, key: str, correlation_id: str | None) -> None:
        self.notified.append((event, key))


# --- outbound-sender -------------------------------------------------------------------------------


@dataclass
class FakeSendStore:
    """``outbound_sender.deps.SendStore`` over a dict of jobs; each step moves the job as the SQL would."""

    jobs: dict[uuid.UUID, SendJob] = field(default_factory=dict)
    credentials: dict[uuid.UUID, str | None] = field(default_factory=dict)  # by account id
    sent: list[Accepted] = field(default_factory=list)
    errors: dict[uuid.UUID, tuple[str | None, str | None]] = field(default_factory=dict)  # code, reason
    reauthed: list[str] = field(default_factory=list)  # error codes of the re-authorisation flags
    # The next N ``mark_sent`` calls find the database unavailable (full, down, connection lost).
    unavailable_marks: int = 0
    notices: list[Notice] = field(default_factory=list)  # owner's notices stored

    def add(self, job: SendJob, credentials: str | None = None) -> SendJob:
        """Queue ``job``; ``credentials``: its account's sealed token (none: unreadable)."""
        self.jobs[job.message_id] = job
        if credentials is not None:
            self.credentials[job.account_id] = credentials
        return job

    async def claim(
        self, tenant_id: uuid.UUID, message_ids: list[uuid.UUID], now: datetime
    ) -> dict[uuid.UUID, ClaimedJob]:
        claimed: dict[uuid.UUID, ClaimedJob] = {}
        for message_id in message_ids:
            job = self.jobs.get(message_id)
            if job is None or job.status != "queued" or job.direction != "outbound":
                continue
            job = self.jobs[message_id] = dataclasses.replace(job, status="sending", send_attempted_at=now)
            claimed[message_id] = ClaimedJob(job, self.credentials.get(job.account_id))
        return claimed

    async def load(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> SendJob | None:
        return self.jobs.get(message_id)

    async def move(
        self,
        tenant_id: uuid.UUID,
        message_id: uuid.UUID,
        *,
        status: str,
        now: datetime,
        from_statuses: tuple[str, ...],
        error_code: str | None,
        error_message: str | None,
        attempted_at: datetime | None = None,
    ) -> bool:
        job = self.jobs[message_id]
        if job.status not in from_statuses:
            return False
        if attempted_at is not None and job.send_attempted_at != attempted_at:
            return False
        self.jobs[message_id] = dataclasses.replace(job, status=status)
        self.errors[message_id] = (error_code, error_message)
        return True

    async def mark_sent(self, tenant_id: uuid.UUID, accepted: list[Accepted], now: datetime) -> None:
        if self.unavailable_marks:
            self.unavailable_marks -= 1
            raise DatabaseUnavailable("the database server refused connections: too many clients")
        for a in accepted:
            self.jobs[a.job.message_id] = dataclasses.replace(self.jobs[a.job.message_id], status="sent")
            self.sent.append(a)

    async def record_upload(
        self, tenant_id: uuid.UUID, message_id: uuid.UUID, *, attempted_at: datetime, patch: dict[str, Any]
    ) -> bool:
        job = self.jobs[message_id]
        if job.status != "sending" or job.send_attempted_at != attempted_at:
            return False
        self.jobs[message_id] = dataclasses.replace(job, media={**(job.media or {}), **patch})
        return True

    async def notify_owner(
        self, tenant_id: uuid.UUID, notice: Notice, account_id: uuid.UUID
    ) -> uuid.UUID | None:
        self.notices.append(notice)
        return uuid.uuid4()

    async def fail_for_reauth(
        self, tenant_id: uuid.UUID, job: SendJob, *, why: str, error_code: str, reason: str, now: datetime
    ) -> ReauthFailed:
        first = not self.reauthed
        self.reauthed.append(error_code)
        await self.move(
            tenant_id,
            job.message_id,
            status="failed",
            now=now,
            from_statuses=("sending",),
            error_code=error_code,
            error_message=reason,
        )
        others = [
            other.message_id
            for other in self.jobs.values()
            if other.account_id == job.account_id and other.status == "queued"
        ]
        for other in others:
            self.jobs[other] = dataclasses.replace(self.jobs[other], status="failed")
        events = reauth_events(job.channel, job.account_external_id, uuid.uuid4() if first else None)
        return ReauthFailed(first, others, events)


@dataclass
class FakeGraph:
    """``outbound_sender.deps.MessageSender``: answers in turn (a result, or a ``GraphError`` to raise);
    uploads answer ``upload_answers`` in turn (an id, or a ``GraphError``)."""

    answers: list[SendResult | GraphError] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    upload_answers: list[str | GraphError] = field(default_factory=list)
    uploads: list[dict[str, Any]] = field(default_factory=list)
    signals: list[dict[str, Any]] = field(default_factory=list)  # read receipts and "typing…"
    signal_errors: list[GraphError] = field(default_factory=list)  # raised in turn by send_signal

    async def upload_media(
        self, phone_number_id: str, token: str, *, data: bytes, mime_type: str, filename: str
    ) -> str:
        return self._upload({"account_id": phone_number_id, "size": len(data), "mime_type": mime_type})

    async def upload_attachment(
        self, account_id: str, token: str, *, kind: str, data: bytes, mime_type: str, filename: str
    ) -> str:
        return self._upload(
            {"account_id": account_id, "kind": kind, "size": len(data), "mime_type": mime_type}
        )

    async def send_signal(self, phone_number_id: str, token: str, *, message_id: str, typing: bool) -> None:
        self.signals.append({"account_id": phone_number_id, "message_id": message_id, "typing": typing})
        if self.signal_errors:
            raise self.signal_errors.pop(0)

    def _upload(self, call: dict[str, Any]) -> str:
        self.uploads.append(call)
        answer = self.upload_answers.pop(0) if self.upload_answers else f"media-{uuid.uuid4().hex[:8]}"
        if isinstance(answer, GraphError):
            raise answer
        return answer

    async def send_message(
        self,
        channel: Channel,
        account_id: str,
        token: str,
        *,
        to: str,
        text: str,
        reply_to_external_id: str | None = None,
        kind: str = "text",
        template: TemplateContent | None = None,
        media: MediaContent | None = None,
        tag: str | None = None,
    ) -> SendResult:
        self.calls.append(
            {
                "channel": channel,
                "account_id": account_id,
                "token": token,
                "to": to,
                "text": text,
                "kind": kind,
                "template": template,
                "media": media,
                "tag": tag,
            }
        )
        answer = self.answers.pop(0) if self.answers else SendResult(f"wamid.{uuid.uuid4().hex}", {})
        if isinstance(answer, GraphError):
            raise answer
        return answer


@dataclass
class FakePacer:
    """``outbound_sender.pacing.Pacer`` that grants every slot at once, or refuses them all."""

    grant: bool = True
    held: list[tuple[str, float]] = field(default_factory=list)

    async def acquire_all(self, checks: Checks, max_wait_s: float) -> Paced:
        return Paced(True, 0.0) if self.grant else Paced(False, max_wait_s + 1, refused_key=checks[0][0])

    async def hold(self, key: str, seconds: float, rate: Rate) -> None:
        self.held.append((key, seconds))


@dataclass
class FakeNotifications:
    """The sender's ``notify``: the live notifications it would publish."""

    events: list[NotificationEvent] = field(default_factory=list)

    async def __call__(self, event: NotificationEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


@dataclass
class FakeFence:
    """``outbound_sender.fence.SendFence`` as Redis keeps it (the marks outlive a sender), or ``down``."""

    marks: dict[str, str] = field(default_factory=dict)  # claim key -> started | abandoned
    down: bool = False

    async def start(self, claim: Claim) -> bool:
        if self.down:
            raise FenceUnavailable("ConnectionError: connection refused")
        if claim.key() in self.marks:
            return False
        self.marks[claim.key()] = STARTED
        return True

    async def abandon(self, claim: Claim) -> bool | None:
        if self.down:
            return None
        return self.marks.setdefault(claim.key(), ABANDONED) == ABANDONED
