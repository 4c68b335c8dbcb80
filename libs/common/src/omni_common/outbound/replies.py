"""Queue a staff reply or reaction: validate it, store it ``queued`` with an outbox row, publish after commit.

The message row and its outbox row are written in the caller's transaction, so an outbound message is
either fully queued or not at all. Replies and reactions take the same path (``_check_can_send``, then
``_store_outbound``): the same account and 24-hour window rules, the same outbox. Publishing happens
after the commit (``publish_reply``); if the broker is down the outbox row stays unpublished and the
outbound-sender's sweep publishes it later.

ReplyRefused (``reason`` says why, for the API and the UI)
 ├── EmptyReply            nothing to send
 ├── ReplyTooLong          over the channel's limit
 ├── AccountUnavailable    the chat's account is disabled or needs a new token
 ├── WindowClosed          the 24-hour customer-service window has closed
 ├── ReplyTargetInvalid    reply_to is not a message of this chat
 ├── ReactionUnsupported   the channel has no reaction message (Messenger, Instagram)
 ├── ReactionTargetInvalid the message reacted to is not a customer's message with a platform id
 └── InvalidEmoji          a reaction is one emoji
ChatNotFound               no such chat in this tenant
 └── MessageNotFound       no such message in this chat
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omni_common.broker.outcomes import PublishError
from omni_common.broker.publisher import Publisher
from omni_common.contracts import SendReply, encode
from omni_common.contracts.routing import OUTBOUND_COMMANDS, routing_key
from omni_common.db.tenant_models import Chat, ChatMessage, Outbox, SocialAccount, User
from omni_common.db.trouble import DATABASE_TROUBLE
from omni_common.domain import reply_window
from omni_common.domain.accounts import send_refusal
from omni_common.errors import OmniError
from omni_common.graph import REACTIONS, PayloadError, build_reaction_payload
from omni_common.graph.payloads import FACEBOOK_MAX_CHARS, INSTAGRAM_MAX_BYTES, WHATSAPP_MAX_CHARS

log = structlog.get_logger(__name__)

PREVIEW_CHARS = 140
OUTBOX_KIND = "reply.send"
OutboundKind = Literal["text", "reaction"]


class ChatNotFound(OmniError):
    """The tenant has no such conversation."""


class MessageNotFound(ChatNotFound):
    """No such message in this conversation."""


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


class ReactionUnsupported(ReplyRefused):
    """The channel has no reaction message we can send."""

    reason = "reactions_unsupported"


class ReactionTargetInvalid(ReplyRefused):
    """The message cannot be reacted to (not a customer's message, or without a platform id)."""

    reason = "invalid_target"


class InvalidEmoji(ReplyRefused):
    """A reaction that is not one emoji."""

    reason = "invalid_emoji"


def _too_long(channel: str, text: str) -> str | None:
    # Meta's limits (the payload builders' own): WhatsApp and Messenger count characters, Instagram bytes.
    if channel == "whatsapp" and len(text) > WHATSAPP_MAX_CHARS:
        return f"WhatsApp messages can have at most {WHATSAPP_MAX_CHARS} characters"
    if channel == "facebook" and len(text) > FACEBOOK_MAX_CHARS:
        return f"Messenger messages can have at most {FACEBOOK_MAX_CHARS} characters"
    if channel == "instagram" and len(text.encode()) > INSTAGRAM_MAX_BYTES:
        return f"Instagram messages can have at most {INSTAGRAM_MAX_BYTES} bytes"
    return None


@dataclass(frozen=True)
class QueuedReply:
    """An outbound message stored as ``queued``: its row, and the outbox row that carries its command."""

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
    kind: OutboundKind = "text"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.message_id),
            "chat_id": str(self.chat_id),
            "channel": self.channel,
            "direction": "outbound",
            "kind": self.kind,
            "text": self.text,
            "status": "queued",
            "sender_name": self.sender_name,
            "reply_to": str(self.reply_to_message_id) if self.reply_to_message_id else None,
            "created_at": self.created_at.isoformat(),
        }


async def _get_chat(session: AsyncSession, chat_id: uuid.UUID) -> Chat:
    chat = await session.get(Chat, chat_id)
    if chat is None:
        raise ChatNotFound("no such conversation")
    return chat


async def _check_can_send(session: AsyncSession, chat: Chat, now: datetime, *, what: str) -> None:
    """The account may send and the customer-service window is open (``what``: "replies", "reactions")."""
    account = await session.get(SocialAccount, chat.social_account_id)
    if account is None:
        raise AccountUnavailable("this conversation's account is no longer connected")
    refused = send_refusal(account.platform, account.status, account.is_active)
    if refused is not None:
        raise AccountUnavailable(refused[1][:1].upper() + refused[1][1:])
    if not reply_window.is_open(chat.last_inbound_at, now):
        raise WindowClosed(
            f"the customer last wrote more than 24 hours ago; Meta allows {what} only within 24 hours"
        )


@dataclass(frozen=True)
class _Outbound:
    """What differs between a reply and a reaction; everything else is stored the same way."""

    kind: OutboundKind
    text: str
    reply_to_message_id: uuid.UUID | None
    reply_to_external_id: str | None
    reaction_emoji: str | None = None


async def _store_outbound(
    session: AsyncSession,
    chat: Chat,
    out: _Outbound,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    now: datetime,
) -> QueuedReply:
    """The queued message row and its outbox row (the command the sender consumes), in one flush."""
    user = await session.get(User, user_id)
    sender_name = (user.display_name or user.email) if user else "staff"
    message_id = uuid.uuid4()
    session.add(
        ChatMessage(
            id=message_id,
            tenant_id=tenant_id,
            chat_id=chat.id,
            channel=chat.channel,
            direction="outbound",
            sender_name=sender_name,
            kind=out.kind,
            text=out.text,  # a reaction's text is its emoji: the sender sends that
            reaction_emoji=out.reaction_emoji,
            status="queued",
            status_at=now,
            reply_to_message_id=out.reply_to_message_id,
            reply_to_external_id=out.reply_to_external_id,
            sent_by_user_id=user_id,
            created_at=now,
        )
    )
    await session.flush()
    # Validated, not constructed: the row's channel is a plain string, the command's a Channel.
    command = SendReply.model_validate(
        {"tenant_id": tenant_id, "message_id": message_id, "channel": chat.channel}
    )
    outbox = Outbox(message_id=message_id, kind=OUTBOX_KIND, payload=command.model_dump(mode="json"))
    session.add(outbox)
    if out.kind == "text":  # a reaction is not news in the conversation list: order and preview stay
        await session.execute(
            update(Chat)
            .where(Chat.id == chat.id)
            .values(last_message_at=now, last_message_preview=out.text[:PREVIEW_CHARS])
        )
    await session.flush()
    log.info(
        "reply_queued" if out.kind == "text" else "reaction_queued",
        tenant_id=str(tenant_id),
        chat_id=str(chat.id),
        message_id=str(message_id),
        channel=chat.channel,
    )
    return QueuedReply(
        message_id=message_id,
        chat_id=chat.id,
        tenant_id=tenant_id,
        channel=chat.channel,
        outbox_id=outbox.id,
        command=command,
        text=out.text,
        sender_name=sender_name,
        reply_to_message_id=out.reply_to_message_id,
        created_at=now,
        kind=out.kind,
    )


async def queue_reply(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    chat_id: uuid.UUID,
    text: str,
    user_id: uuid.UUID,
    reply_to_message_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> QueuedReply:
    """Validate and store a reply with its outbox row in the session's transaction (caller commits)."""
    text = (text or "").strip()
    if not text:
        raise EmptyReply("a reply needs some text")
    now = now or datetime.now(UTC)
    chat = await _get_chat(session, chat_id)
    await _check_can_send(session, chat, now, what="replies")
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
    out = _Outbound("text", text, reply_to_message_id, reply_to_external)
    return await _store_outbound(session, chat, out, tenant_id=tenant_id, user_id=user_id, now=now)


def validate_emoji(emoji: str) -> str:
    """The emoji, stripped; InvalidEmoji when it is not one emoji (checked as the payload is)."""
    try:
        payload = build_reaction_payload("whatsapp", to="+1", message_id="x", emoji=emoji)
    except PayloadError as exc:
        raise InvalidEmoji(str(exc)) from exc
    return str(payload["reaction"]["emoji"])


async def queue_reaction(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    chat_id: uuid.UUID,
    message_id: uuid.UUID,
    emoji: str,
    user_id: uuid.UUID,
    now: datetime | None = None,
) -> QueuedReply:
    """Store a reaction to a customer's message (kind ``reaction``, text = the emoji, quoting the
    target) with its outbox row, in the session's transaction (caller commits)."""
    chat = await _get_chat(session, chat_id)
    target = await session.get(ChatMessage, message_id)
    if target is None or target.chat_id != chat_id:
        raise MessageNotFound("no such message")
    if not REACTIONS.get(chat.channel, False):
        raise ReactionUnsupported(
            "reactions can only be sent on WhatsApp: Messenger and Instagram offer no reaction "
            "message for businesses"
        )
    if target.direction != "inbound" or target.kind == "reaction" or not target.external_message_id:
        raise ReactionTargetInvalid("only a customer's message can be reacted to")
    emoji = validate_emoji(emoji)
    now = now or datetime.now(UTC)
    await _check_can_send(session, chat, now, what="reactions")
    out = _Outbound("reaction", emoji, target.id, target.external_message_id, reaction_emoji=emoji)
    return await _store_outbound(session, chat, out, tenant_id=tenant_id, user_id=user_id, now=now)


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
    try:
        async with begin(command.tenant_id) as session:
            await session.execute(
                update(Outbox)
                .where(Outbox.id == queued.outbox_id, Outbox.published_at.is_(None))
                .values(published_at=datetime.now(UTC))
            )
    except DATABASE_TROUBLE as exc:
        # Published and committed: the reply is on its way. The row stays unstamped, so the sweep
        # publishes it once more; the sender claims a message only while it is queued.
        log.warning("reply_outbox_not_stamped", message_id=str(command.message_id), error=str(exc)[:200])
    return True
