"""Queue a staff reply: validate it, store it as ``queued`` with an outbox row, publish after commit.

The message row and its outbox row are written in the caller's transaction, so a reply is either
fully queued or not at all. Publishing happens after the commit (``publish_reply``); if the broker is
down the outbox row stays unpublished and the outbound-sender's sweep publishes it later.

ReplyRefused (``reason`` says why, for the API and the UI)
 ├── EmptyReply            nothing to send
 ├── ReplyTooLong          over the channel's limit
 ├── AccountUnavailable    the chat's account is disabled or needs a new token
 ├── WindowClosed          the 24-hour customer-service window has closed
 └── ReplyTargetInvalid    reply_to is not a message of this chat
ChatNotFound               no such chat in this tenant
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omni_common.broker.outcomes import PublishError
from omni_common.broker.publisher import Publisher
from omni_common.contracts import SendReply, encode
from omni_common.contracts.routing import OUTBOUND_COMMANDS, routing_key
from omni_common.db.tenant_models import Chat, ChatMessage, Outbox, SocialAccount, User
from omni_common.domain import reply_window
from omni_common.domain.accounts import send_refusal
from omni_common.errors import OmniError

log = structlog.get_logger(__name__)

PREVIEW_CHARS = 140
OUTBOX_KIND = "reply.send"


class ChatNotFound(OmniError):
    """The tenant has no such conversation."""


class ReplyRefused(OmniError):
    """A reply that cannot be queued; ``reason`` is a stable code, the message explains it."""

    reason = "refused"


class EmptyReply(ReplyRefused):
    """The reply has no text."""

    reason = "empty"


class ReplyTooLong(ReplyRefused):
    """The reply is longer than its channel allows."""

    reason = "too_long"


class AccountUnavailable(ReplyRefused):
    """The conversation's account is disabled or needs re-authorisation."""

    reason = "account_unavailable"


class WindowClosed(ReplyRefused):
    """The customer last wrote more than 24 hours ago: Meta refuses free-form replies."""

    reason = "window_closed"


class ReplyTargetInvalid(ReplyRefused):
    """``reply_to`` is not a message of this conversation."""

    reason = "invalid_reply_to"


def _too_long(channel: str, text: str) -> str | None:
    # Meta's limits: WhatsApp 4096 characters, Messenger 2000 characters, Instagram 1000 bytes (UTF-8).
    if channel == "whatsapp" and len(text) > 4096:
        return "WhatsApp messages can have at most 4096 characters"
    if channel == "facebook" and len(text) > 2000:
        return "Messenger messages can have at most 2000 characters"
    if channel == "instagram" and len(text.encode()) > 1000:
        return "Instagram messages can have at most 1000 bytes"
    return None


@dataclass(frozen=True)
class QueuedReply:
    """A reply stored as ``queued``: its message, and the outbox row that carries its command."""

    message_id: uuid.UUID
    chat_id: uuid.UUID
    tenant_id: uuid.UUID
    channel: str
    outbox_id: int
    command: SendReply
    text: str
    sender_name: str
    reply_to_message_id: uuid.UUID | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.message_id),
            "chat_id": str(self.chat_id),
            "channel": self.channel,
            "direction": "outbound",
            "kind": "text",
            "text": self.text,
            "status": "queued",
            "sender_name": self.sender_name,
            "reply_to": str(self.reply_to_message_id) if self.reply_to_message_id else None,
            "created_at": self.created_at.isoformat(),
        }


async def _check_chat(session: AsyncSession, chat_id: uuid.UUID, now: datetime) -> Chat:
    chat = await session.get(Chat, chat_id)
    if chat is None:
        raise ChatNotFound(f"no conversation {chat_id}")
    account = await session.get(SocialAccount, chat.social_account_id)
    if account is None:
        raise AccountUnavailable("this conversation's account is no longer connected")
    refused = send_refusal(account.platform, account.status, account.is_active)
    if refused is not None:
        raise AccountUnavailable(refused[1][:1].upper() + refused[1][1:])
    if not reply_window.is_open(chat.last_inbound_at, now):
        raise WindowClosed(
            "the customer last wrote more than 24 hours ago; Meta allows replies only within 24 hours"
        )
    return chat


async def queue_reply(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    chat_id: uuid.UUID,
    text: str,
    user_id: uuid.UUID,
    reply_to_message_id: uuid.UUID | None = None,
) -> QueuedReply:
    """Validate and store a reply with its outbox row in the session's transaction (caller commits)."""
    text = (text or "").strip()
    if not text:
        raise EmptyReply("a reply needs some text")
    now = datetime.now(UTC)
    chat = await _check_chat(session, chat_id, now)
    if (problem := _too_long(chat.channel, text)) is not None:
        raise ReplyTooLong(problem)
    reply_to_external: str | None = None
    if reply_to_message_id is not None:
        target = (
            await session.execute(
                select(ChatMessage.external_message_id).where(
                    ChatMessage.id == reply_to_message_id, ChatMessage.chat_id == chat_id
                )
            )
        ).first()
        if target is None:
            raise ReplyTargetInvalid("the quoted message is not part of this conversation")
        reply_to_external = target[0]
    user = await session.get(User, user_id)
    sender_name = (user.display_name or user.email) if user else "staff"
    message_id = uuid.uuid4()
    message = ChatMessage(
        id=message_id,
        tenant_id=tenant_id,
        chat_id=chat_id,
        channel=chat.channel,
        direction="outbound",
        sender_name=sender_name,
        kind="text",
        text=text,
        status="queued",
        status_at=now,
        reply_to_message_id=reply_to_message_id,
        reply_to_external_id=reply_to_external,
        sent_by_user_id=user_id,
        created_at=now,
    )
    session.add(message)
    await session.flush()
    command = SendReply(tenant_id=tenant_id, message_id=message_id, channel=chat.channel)  # type: ignore[arg-type]
    outbox = Outbox(message_id=message_id, kind=OUTBOX_KIND, payload=command.model_dump(mode="json"))
    session.add(outbox)
    await session.execute(
        update(Chat)
        .where(Chat.id == chat_id)
        .values(last_message_at=now, last_message_preview=text[:PREVIEW_CHARS])
    )
    await session.flush()
    log.info("reply_queued", tenant_id=str(tenant_id), chat_id=str(chat_id), message_id=str(message_id))
    return QueuedReply(
        message_id=message_id,
        chat_id=chat_id,
        tenant_id=tenant_id,
        channel=chat.channel,
        outbox_id=outbox.id,
        command=command,
        text=text,
        sender_name=sender_name,
        reply_to_message_id=reply_to_message_id,
        created_at=now,
    )


BeginFn = Callable[[uuid.UUID], AbstractAsyncContextManager[AsyncSession]]


def reply_correlation_id(message_id: uuid.UUID) -> str:
    """The correlation id of a reply's command, from the inbox or the outbox relay alike."""
    return f"reply:{message_id}"


async def publish_reply(publisher: Publisher, begin: BeginFn, queued: QueuedReply) -> bool:
    """Publish a committed reply's SendReply (confirmed), then mark its outbox row published.

    False when the broker did not confirm: the row stays unpublished for the sender's sweep.
    """
    command = queued.command
    try:
        await publisher.publish(
            routing_key(OUTBOUND_COMMANDS, command.channel),
            encode(command),
            message_id=f"reply:{command.message_id}",
            # The sender's logs of this reply carry it (its consumer binds the delivery's).
            correlation_id=reply_correlation_id(command.message_id),
        )
    except PublishError as exc:
        log.warning("reply_publish_deferred", message_id=str(command.message_id), error=str(exc))
        return False
    async with begin(command.tenant_id) as session:
        await session.execute(
            update(Outbox)
            .where(Outbox.id == queued.outbox_id, Outbox.published_at.is_(None))
            .values(published_at=datetime.now(UTC))
        )
    return True
