"""Queue anything staff send: validate it, store it ``queued`` with an outbox row, publish after commit.

The message row and its outbox row are written in the caller's transaction, so an outbound message is
either fully queued or not at all. Every outbound kind takes this one path (``check_can_send``, then
``store_outbound``): replies and reactions here, templates and files in ``outbound.rich``, a failed
message sent again with ``requeue_failed``. The same account and window rules
(``domain.reply_window``), the same outbox, the same command for the sender. Publishing happens after
the commit (``publish_reply``); if the broker is down the outbox row stays unpublished and the
outbound-sender's sweep publishes it later. The errors are ``outbound.errors``.
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
from omni_common.contracts import SendReply
from omni_common.db.tenant_models import Chat, ChatMessage, Outbox, SocialAccount, User
from omni_common.db.trouble import DATABASE_TROUBLE
from omni_common.domain import reply_window
from omni_common.domain.accounts import send_refusal
from omni_common.domain.people import person_name
from omni_common.graph import MEDIA_KINDS, REACTIONS, PayloadError, build_reaction_payload
from omni_common.graph.payloads import FACEBOOK_MAX_CHARS, INSTAGRAM_MAX_BYTES, WHATSAPP_MAX_CHARS
from omni_common.outbound.commands import publish_command, reply_message
from omni_common.outbound.errors import (
    AccountUnavailable,
    ChatNotFound,
    EmptyReply,
    InvalidEmoji,
    MessageNotFound,
    ReactionTargetInvalid,
    ReactionUnsupported,
    ReplyRefused,
    ReplyTargetInvalid,
    ReplyTooLong,
    TemplateRefused,
    WindowClosed,
)
from omni_common.outbound.views import attachments_view, template_view

# The errors keep being importable from here (their home is ``outbound.errors``).
__all__ = [
    "AccountUnavailable",
    "ChatNotFound",
    "EmptyReply",
    "InvalidEmoji",
    "MessageNotFound",
    "Outbound",
    "QueuedReply",
    "ReactionTargetInvalid",
    "ReactionUnsupported",
    "ReplyRefused",
    "ReplyTargetInvalid",
    "ReplyTooLong",
    "TemplateRefused",
    "WindowClosed",
    "check_can_send",
    "check_text",
    "get_chat",
    "publish_reply",
    "queue_reaction",
    "queue_reply",
    "reply_target",
    "store_outbound",
    "validate_emoji",
]

log = structlog.get_logger(__name__)

PREVIEW_CHARS = 140
OUTBOX_KIND = "reply.send"
OutboundKind = Literal["text", "reaction", "template", "image", "video", "audio", "document", "sticker"]
# What the conversation list shows for a file without a caption.
FILE_PREVIEWS = {
    "image": "Photo",
    "video": "Video",
    "audio": "Audio",
    "document": "Document",
    "sticker": "Sticker",
}


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
    template: dict[str, Any] | None = None  # the row's ``template`` document (template sends)
    media: dict[str, Any] | None = None  # the row's ``media`` document (file sends)
    status: str = "queued"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.message_id),
            "chat_id": str(self.chat_id),
            "channel": self.channel,
            "direction": "outbound",
            "kind": self.kind,
            "text": self.text,
            "status": self.status,
            "sender_name": self.sender_name,
            "reply_to": str(self.reply_to_message_id) if self.reply_to_message_id else None,
            "created_at": self.created_at.isoformat(),
            "template": template_view(self.template),
            "attachments": attachments_view(self.message_id, self.media),
        }


async def _get_chat(session: AsyncSession, chat_id: uuid.UUID) -> Chat:
    chat = await session.get(Chat, chat_id)
    if chat is None:
        raise ChatNotFound("no such conversation")
    return chat


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


async def check_can_send(
    session: AsyncSession, chat: Chat, now: datetime, *, kind: str
) -> tuple[SocialAccount, reply_window.ReplyWindow]:
    """The account may send and the platform's window allows this ``kind`` now; the account and
    the window (its ``tag`` says whether the send needs the human-agent tag)."""
    account = await session.get(SocialAccount, chat.social_account_id)
    if account is None:
        raise AccountUnavailable("this conversation's account is no longer connected")
    refused = send_refusal(account.platform, account.status, account.is_active)
    if refused is not None:
        raise AccountUnavailable(_capital(refused[1]))
    human_agent = bool(account.human_agent_enabled)
    win = reply_window.window(chat.channel, chat.last_inbound_at, now, human_agent=human_agent)
    if kind == "template":
        if not win.templates:
            raise TemplateRefused("message templates exist only on WhatsApp", field="template")
        return account, win
    if not win.free_form:
        raise WindowClosed(_capital(reply_window.closed_reason(chat.channel, win, human_agent=human_agent)))
    return account, win


@dataclass(frozen=True)
class Outbound:
    """What differs between outbound kinds; everything else is stored the same way."""

    kind: OutboundKind
    text: str
    reply_to_message_id: uuid.UUID | None
    reply_to_external_id: str | None
    reaction_emoji: str | None = None
    template: dict[str, Any] | None = None
    media: dict[str, Any] | None = None
    message_id: uuid.UUID | None = None  # chosen by the caller when it names a file after it


def _preview(out: Outbound) -> str:
    if out.kind in MEDIA_KINDS and not out.text:
        return FILE_PREVIEWS.get(out.kind, out.kind)
    return out.text[:PREVIEW_CHARS]


async def store_outbound(
    session: AsyncSession,
    chat: Chat,
    out: Outbound,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    now: datetime,
) -> QueuedReply:
    """The queued message row and its outbox row (the command the sender consumes), in one flush."""
    user = await session.get(User, user_id)
    # Signed with the user's name (never their email): customers may see it.
    sender_name = person_name(user.display_name, user.email) if user else "staff"
    message_id = out.message_id or uuid.uuid4()
    session.add(
        ChatMessage(
            id=message_id,
            tenant_id=tenant_id,
            chat_id=chat.id,
            channel=chat.channel,
            direction="outbound",
            sender_name=sender_name,
            kind=out.kind,
            # A reaction's text is its emoji (the sender sends that); a template's its rendered text;
            # a file's its caption (None without one).
            text=out.text or None,
            reaction_emoji=out.reaction_emoji,
            template=out.template,
            media=out.media,
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
    if out.kind != "reaction":  # a reaction is not news in the conversation list: order and preview stay
        await session.execute(
            update(Chat)
            .where(Chat.id == chat.id)
            .values(last_message_at=now, last_message_preview=_preview(out))
        )
    await session.flush()
    log.info(
        "reaction_queued" if out.kind == "reaction" else "reply_queued",
        tenant_id=str(tenant_id),
        chat_id=str(chat.id),
        message_id=str(message_id),
        channel=chat.channel,
        kind=out.kind,
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
        template=out.template,
        media=out.media,
    )


def check_text(channel: str, text: str) -> str:
    """The text, stripped; EmptyReply or ReplyTooLong when the channel would refuse it."""
    text = (text or "").strip()
    if not text:
        raise EmptyReply("a reply needs some text")
    if (problem := _too_long(channel, text)) is not None:
        raise ReplyTooLong(problem)
    return text


async def reply_target(
    session: AsyncSession, chat_id: uuid.UUID, reply_to_message_id: uuid.UUID | None
) -> str | None:
    """The quoted message's platform id; ReplyTargetInvalid when it is not a message of this chat."""
    if reply_to_message_id is None:
        return None
    target = (
        await session.execute(
            select(ChatMessage.external_message_id).where(
                ChatMessage.id == reply_to_message_id, ChatMessage.chat_id == chat_id
            )
        )
    ).first()
    if target is None:
        raise ReplyTargetInvalid("the quoted message is not part of this conversation")
    return target[0]


async def get_chat(session: AsyncSession, chat_id: uuid.UUID) -> Chat:
    """The conversation; ChatNotFound when the tenant has none with this id."""
    return await _get_chat(session, chat_id)


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
    if not (text or "").strip():
        raise EmptyReply("a reply needs some text")
    now = now or datetime.now(UTC)
    chat = await _get_chat(session, chat_id)
    await check_can_send(session, chat, now, kind="text")
    text = check_text(chat.channel, text)
    reply_to_external = await reply_target(session, chat_id, reply_to_message_id)
    out = Outbound("text", text, reply_to_message_id, reply_to_external)
    return await store_outbound(session, chat, out, tenant_id=tenant_id, user_id=user_id, now=now)


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
    await check_can_send(session, chat, now, kind="reaction")
    out = Outbound("reaction", emoji, target.id, target.external_message_id, reaction_emoji=emoji)
    return await store_outbound(session, chat, out, tenant_id=tenant_id, user_id=user_id, now=now)


BeginFn = Callable[[uuid.UUID], AbstractAsyncContextManager[AsyncSession]]


async def publish_reply(publisher: Publisher, begin: BeginFn, queued: QueuedReply) -> bool:
    """Publish a committed reply's SendReply (confirmed), then mark its outbox row published.

    False when the broker did not confirm: the row stays unpublished for the sender's sweep.
    """
    command = queued.command
    try:
        # The reply's ids and tenant header (``outbound.commands``); the sender's logs of this reply
        # carry its correlation id (its consumer binds the delivery's).
        await publish_command(publisher, reply_message(command))
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
