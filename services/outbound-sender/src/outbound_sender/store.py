"""Tenant-database steps of a send; each is one guarded statement so concurrent deliveries cannot clash.

The hot path (``claim_jobs``, ``mark_sent``) is plain SQL prepared once at import and run in autocommit:
one round trip per step instead of BEGIN/statement/COMMIT, and no per-call statement building or
compiling (that was most of the sender's CPU per send). The rarer steps keep the ORM's expressions.
``SessionSendStore`` is the handler's ``SendStore`` on top of these, one transaction per step.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Row, cast, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from omni_common.db.tenant_models import Chat, ChatMessage, Contact, SocialAccount
from omni_common.domain.channels import Channel, is_channel
from omni_common.domain.reauth import LiveEvent, Notice
from omni_common.tenancy.accounts import flag_needs_reauth
from omni_common.wa_templates.store import add_notice

log = structlog.get_logger(__name__)

Begin = Callable[[uuid.UUID], AbstractAsyncContextManager[AsyncSession]]


@dataclass(frozen=True)
class SendJob:
    """Everything a send needs, read in one go (the token is read separately, only when sending)."""

    message_id: uuid.UUID
    chat_id: uuid.UUID
    channel: Channel
    direction: str
    status: str | None
    text: str | None
    send_attempted_at: datetime | None
    reply_to_external_id: str | None
    last_inbound_at: datetime | None
    account_id: uuid.UUID
    account_external_id: str
    account_status: str
    account_active: bool
    recipient: str
    kind: str = "text"  # "reaction": text is the emoji, reply_to_external_id the reacted message
    template: dict[str, Any] | None = None  # a template send: name, language, Meta's components
    media: dict[str, Any] | None = None  # a file: where it is stored, and Meta's id once uploaded
    human_agent: bool = False  # the account may reply as HUMAN_AGENT up to 7 days (Messenger/IG)


async def load_job(session: AsyncSession, message_id: uuid.UUID) -> SendJob | None:
    """The message with its chat's account and contact (None when the message does not exist)."""
    quoted = ChatMessage.__table__.alias("quoted")
    row = (
        await session.execute(
            select(
                ChatMessage.id,
                ChatMessage.chat_id,
                ChatMessage.channel,
                ChatMessage.direction,
                ChatMessage.status,
                ChatMessage.text,
                ChatMessage.send_attempted_at,
                ChatMessage.reply_to_external_id,
                quoted.c.external_message_id.label("quoted_external_id"),
                Chat.last_inbound_at,
                SocialAccount.id.label("account_id"),
                SocialAccount.external_account_id,
                SocialAccount.status.label("account_status"),
                SocialAccount.is_active,
                Contact.external_id,
                ChatMessage.kind,
                ChatMessage.template,
                ChatMessage.media,
                SocialAccount.human_agent_enabled,
            )
            .join(Chat, Chat.id == ChatMessage.chat_id)
            .join(SocialAccount, SocialAccount.id == Chat.social_account_id)
            .join(Contact, Contact.id == Chat.contact_id)
            .outerjoin(quoted, quoted.c.id == ChatMessage.reply_to_message_id)
            .where(ChatMessage.id == message_id)
        )
    ).first()
    if row is None:
        return None
    # The quoted row's platform id wins; reply_to_external_id covers a quote of a message we lack.
    return _job(
        row, status=row.status, reply_to_external_id=row.quoted_external_id or row.reply_to_external_id
    )


def _job(row: Row[Any], *, status: str | None, reply_to_external_id: str | None) -> SendJob:
    """A job from a row of ``load_job`` or ``_CLAIM_JOBS`` (their columns carry the same names)."""
    if not is_channel(row.channel):
        raise ValueError(f"message {row.id} is on an unknown channel {row.channel!r}")
    return SendJob(
        message_id=row.id,
        chat_id=row.chat_id,
        channel=row.channel,
        direction=row.direction,
        status=status,
        text=row.text,
        send_attempted_at=row.send_attempted_at,
        reply_to_external_id=reply_to_external_id,
        last_inbound_at=row.last_inbound_at,
        account_id=row.account_id,
        account_external_id=row.external_account_id,
        account_status=row.account_status,
        account_active=row.is_active,
        recipient=row.external_id,
        kind=row.kind,
        template=row.template,
        media=row.media,
        human_agent=bool(row.human_agent_enabled),
    )


@dataclass(frozen=True)
class ClaimedJob:
    """A job this attempt now owns (``sending`` is committed) and its account's encrypted token."""

    job: SendJob
    credentials: str | None


# queued -> sending and the whole job, for a batch of messages in one statement. ``updated_at`` is set
# by hand: the ORM's onupdate does not run for text SQL.
_CLAIM_JOBS = text(
    """
    UPDATE chat_messages AS m
    SET status = 'sending', send_attempted_at = :now, status_at = :now, updated_at = now()
    FROM chats AS c
    JOIN social_accounts AS a ON a.id = c.social_account_id
    JOIN contacts AS ct ON ct.id = c.contact_id
    WHERE m.id = ANY(CAST(:ids AS uuid[])) AND m.status = 'queued' AND m.direction = 'outbound'
        AND c.id = m.chat_id
    RETURNING m.id, m.chat_id, m.channel, m.direction, m.kind, m.text, m.send_attempted_at,
        COALESCE(
            (SELECT q.external_message_id FROM chat_messages AS q WHERE q.id = m.reply_to_message_id),
            m.reply_to_external_id
        ) AS reply_to_external_id,
        c.last_inbound_at, a.id AS account_id, a.external_account_id, a.status AS account_status,
        a.is_active, ct.external_id, a.credentials, m.template, m.media, a.human_agent_enabled
    """
)

# Accepted sends of a batch, and each account's "last send" at most once a second: every send of a
# number would otherwise queue on that one row's lock.
_MARK_SENT = text(
    """
    WITH v AS (
        SELECT * FROM unnest(
            CAST(:ids AS uuid[]), CAST(:external_ids AS text[]), CAST(:platform_ts AS timestamptz[])
        ) AS v(id, external_message_id, platform_timestamp)
    ), m AS (
        UPDATE chat_messages AS m
        SET status = 'sent', status_at = :now, error_code = NULL, error_message = NULL,
            external_message_id = v.external_message_id, platform_timestamp = v.platform_timestamp,
            updated_at = now()
        FROM v
        WHERE m.id = v.id AND (
            m.status IN ('sending', 'unknown')
            OR (m.status = 'failed' AND m.error_code = 'outcome_unknown')
        )
        RETURNING m.id
    )
    UPDATE social_accounts
    SET last_send_at = :now, updated_at = now()
    WHERE id = ANY(CAST(:account_ids AS uuid[]))
        AND (last_send_at IS NULL OR last_send_at < :now - interval '1 second')
    """
)

_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


@dataclass(frozen=True)
class Accepted:
    """Meta accepted this job's message with this id."""

    job: SendJob
    external_message_id: str
    platform_timestamp: datetime


async def _autocommit(session: AsyncSession) -> AsyncConnection:
    """The session's connection in autocommit: a single statement needs no BEGIN/COMMIT round trips."""
    return await session.connection(execution_options=_AUTOCOMMIT)


async def claim_jobs(
    session: AsyncSession, message_ids: list[uuid.UUID], now: datetime
) -> dict[uuid.UUID, ClaimedJob]:
    """Claim queued outbound messages (queued -> sending) and read their jobs, in one statement.

    Must be the session's first statement (it runs in autocommit). A message missing from the result
    is missing, not outbound, or not ``queued`` (``load_job`` says which).
    """
    conn = await _autocommit(session)
    rows = (await conn.execute(_CLAIM_JOBS, {"ids": message_ids, "now": now})).all()
    return {
        row.id: ClaimedJob(
            _job(row, status="sending", reply_to_external_id=row.reply_to_external_id),
            row.credentials,
        )
        for row in rows
    }


async def mark_sent(session: AsyncSession, accepted: list[Accepted], *, now: datetime) -> None:
    """Record Meta's acceptances and touch the accounts' last send.

    From ``sending``, and from "may have been delivered" (``failed`` with ``outcome_unknown``, or the
    ``unknown`` of rows written before that): an attempt that outlived the in-flight grace was marked
    so by a redelivery, and Meta's late acceptance settles it.
    """
    conn = await _autocommit(session)
    params: dict[str, Any] = {
        "ids": [a.job.message_id for a in accepted],
        "external_ids": [a.external_message_id for a in accepted],
        "platform_ts": [a.platform_timestamp for a in accepted],
        "account_ids": sorted({a.job.account_id for a in accepted}),  # sorted: a fixed lock order
        "now": now,
    }
    await conn.execute(_MARK_SENT, params)


async def set_status(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    status: str,
    now: datetime,
    from_statuses: tuple[str, ...],
    error_code: str | None = None,
    error_message: str | None = None,
    attempted_at: datetime | None = None,
) -> bool:
    """Move the message to ``status`` if it is still in one of ``from_statuses`` (and, given
    ``attempted_at``, still that attempt's: an attempt that lost its claim must not touch the row)."""
    owned = () if attempted_at is None else (ChatMessage.send_attempted_at == attempted_at,)
    row = (
        await session.execute(
            update(ChatMessage)
            .where(ChatMessage.id == message_id, ChatMessage.status.in_(from_statuses), *owned)
            .values(status=status, status_at=now, error_code=error_code, error_message=error_message)
            .returning(ChatMessage.id)
        )
    ).first()
    return row is not None


async def fail_queued_of_account(
    session: AsyncSession, account_id: uuid.UUID, *, now: datetime, error_code: str, error_message: str
) -> list[uuid.UUID]:
    """Fail every still-queued outbound message of the account (its token is dead)."""
    chats = select(Chat.id).where(Chat.social_account_id == account_id)
    rows = (
        await session.execute(
            update(ChatMessage)
            .where(
                ChatMessage.chat_id.in_(chats),
                ChatMessage.direction == "outbound",
                ChatMessage.status == "queued",
            )
            .values(status="failed", status_at=now, error_code=error_code, error_message=error_message)
            .returning(ChatMessage.id)
        )
    ).all()
    return [r.id for r in rows]


async def set_media_ref(
    session: AsyncSession, message_id: uuid.UUID, *, attempted_at: datetime, patch: dict[str, Any]
) -> bool:
    """Record Meta's id of an uploaded file on the message, only if this attempt still owns it
    (``sending`` since ``attempted_at``): an attempt that lost its claim must not send."""
    row = (
        await session.execute(
            update(ChatMessage)
            .where(
                ChatMessage.id == message_id,
                ChatMessage.status == "sending",
                ChatMessage.send_attempted_at == attempted_at,
            )
            .values(media=func.coalesce(ChatMessage.media, text("'{}'::jsonb")).op("||")(cast(patch, JSONB)))
            .returning(ChatMessage.id)
        )
    ).first()
    return row is not None


async def insert_notice(session: AsyncSession, notice: Notice, account_id: uuid.UUID) -> uuid.UUID | None:
    """An owner's notice about the account's sends (one open notice per template and code)."""
    return await add_notice(session, notice, account_id)


@dataclass(frozen=True)
class ReauthFailed:
    """After a dead token: whether the account was newly flagged, its other failed messages, the events."""

    first: bool
    others: list[uuid.UUID]
    events: list[LiveEvent]


class SessionSendStore:
    """The send handler's ``SendStore`` on tenant databases: each call is one committed step."""

    def __init__(self, begin: Begin) -> None:
        self._begin = begin

    async def claim(
        self, tenant_id: uuid.UUID, message_ids: list[uuid.UUID], now: datetime
    ) -> dict[uuid.UUID, ClaimedJob]:
        async with self._begin(tenant_id) as session:
            return await claim_jobs(session, message_ids, now)

    async def load(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> SendJob | None:
        async with self._begin(tenant_id) as session:
            return await load_job(session, message_id)

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
        async with self._begin(tenant_id) as session:
            return await set_status(
                session,
                message_id,
                status=status,
                now=now,
                from_statuses=from_statuses,
                error_code=error_code,
                error_message=error_message,
                attempted_at=attempted_at,
            )

    async def mark_sent(self, tenant_id: uuid.UUID, accepted: list[Accepted], now: datetime) -> None:
        # Meta has accepted these: the write is retried once if the pooled connection was dead
        # (pools skip the per-checkout ping, see main.py). It is idempotent.
        for tries in (1, 2):
            try:
                async with self._begin(tenant_id) as session:
                    await mark_sent(session, accepted, now=now)
                return
            except DBAPIError as exc:
                if tries == 2 or not exc.connection_invalidated:
                    raise
                log.warning("db_connection_stale_retrying", tenant_id=str(tenant_id))

    async def record_upload(
        self, tenant_id: uuid.UUID, message_id: uuid.UUID, *, attempted_at: datetime, patch: dict[str, Any]
    ) -> bool:
        async with self._begin(tenant_id) as session:
            return await set_media_ref(session, message_id, attempted_at=attempted_at, patch=patch)

    async def notify_owner(
        self, tenant_id: uuid.UUID, notice: Notice, account_id: uuid.UUID
    ) -> uuid.UUID | None:
        async with self._begin(tenant_id) as session:
            return await insert_notice(session, notice, account_id)

    async def fail_for_reauth(
        self, tenant_id: uuid.UUID, job: SendJob, *, why: str, error_code: str, reason: str, now: datetime
    ) -> ReauthFailed:
        async with self._begin(tenant_id) as session:
            flagged = await flag_needs_reauth(
                session, account_id=job.account_id, why=why, error_code=error_code, now=now
            )
            await set_status(
                session,
                job.message_id,
                status="failed",
                now=now,
                from_statuses=("sending",),
                error_code=error_code,
                error_message=reason,
            )
            others = await fail_queued_of_account(
                session, job.account_id, now=now, error_code=error_code, error_message=reason
            )
        return ReauthFailed(flagged.first, others, flagged.events)
