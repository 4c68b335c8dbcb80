"""Tenant-database steps of a send; each is one guarded statement so concurrent deliveries cannot clash."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omni_common.db.tenant_models import Chat, ChatMessage, Contact, Notification, SocialAccount


@dataclass(frozen=True)
class SendJob:
    """Everything a send needs, read in one go (the token is read separately, only when sending)."""

    message_id: uuid.UUID
    chat_id: uuid.UUID
    channel: str
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
    return SendJob(
        message_id=row.id,
        chat_id=row.chat_id,
        channel=row.channel,
        direction=row.direction,
        status=row.status,
        text=row.text,
        send_attempted_at=row.send_attempted_at,
        # The quoted row's platform id wins; reply_to_external_id covers a quote of a message we lack.
        reply_to_external_id=row.quoted_external_id or row.reply_to_external_id,
        last_inbound_at=row.last_inbound_at,
        account_id=row.account_id,
        account_external_id=row.external_account_id,
        account_status=row.account_status,
        account_active=row.is_active,
        recipient=row.external_id,
        kind=row.kind,
    )


async def claim(session: AsyncSession, message_id: uuid.UUID, now: datetime) -> bool:
    """Record the attempt (queued -> sending) before calling Meta; False if someone else has it."""
    row = (
        await session.execute(
            update(ChatMessage)
            .where(ChatMessage.id == message_id, ChatMessage.status == "queued")
            .values(status="sending", send_attempted_at=now, status_at=now)
            .returning(ChatMessage.id)
        )
    ).first()
    return row is not None


async def set_status(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    status: str,
    now: datetime,
    from_statuses: tuple[str, ...],
    error_code: str | None = None,
    error_message: str | None = None,
    external_message_id: str | None = None,
    platform_timestamp: datetime | None = None,
) -> bool:
    """Move the message to ``status`` if it is still in one of ``from_statuses``."""
    values: dict[str, object] = {
        "status": status,
        "status_at": now,
        "error_code": error_code,
        "error_message": error_message,
    }
    if external_message_id is not None:
        values["external_message_id"] = external_message_id
    if platform_timestamp is not None:
        values["platform_timestamp"] = platform_timestamp
    row = (
        await session.execute(
            update(ChatMessage)
            .where(ChatMessage.id == message_id, ChatMessage.status.in_(from_statuses))
            .values(**values)
            .returning(ChatMessage.id)
        )
    ).first()
    return row is not None


async def touch_last_send(session: AsyncSession, account_id: uuid.UUID, now: datetime) -> None:
    """Remember when the account last sent (shown in settings)."""
    await session.execute(
        update(SocialAccount).where(SocialAccount.id == account_id).values(last_send_at=now)
    )


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


async def add_notification(
    session: AsyncSession,
    *,
    kind: str,
    severity: str,
    title: str,
    body: str,
    account_id: uuid.UUID,
    data: dict[str, object],
) -> uuid.UUID:
    """Insert an owner notification (the inbox shows it until resolved)."""
    note = Notification(
        kind=kind, severity=severity, title=title, body=body, social_account_id=account_id, data=data
    )
    session.add(note)
    await session.flush()
    return note.id
