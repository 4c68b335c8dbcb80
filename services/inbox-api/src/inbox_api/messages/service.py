"""Messages of a conversation: the history (oldest first), everything staff send, stored media.

Replies and reactions are queued by ``omni_common.outbound.replies``, templates, files and "try again"
by ``omni_common.outbound.rich`` (one path: the account, the platform's window, the outbox), audited
in the same transaction, then published and announced after the commit. Only WhatsApp has a
documented reaction message; Messenger and Instagram are refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import quote

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.assistant.service import mark_used
from inbox_api.auth.models import Principal
from inbox_api.deps import InboxDeps
from inbox_api.errors import NotFound
from inbox_api.live.service import announce
from inbox_api.messages.next_step import next_step
from inbox_api.messages.views import message_view
from inbox_api.rows import get_or_404
from omni_common.db.tenant_models import Chat, ChatMessage, User
from omni_common.domain.people import name_from_email, person_name
from omni_common.outbound.replies import QueuedReply, publish_reply, queue_reaction, queue_reply
from omni_common.outbound.rich import (
    FileIn,
    Started,
    TemplateRequest,
    queue_files,
    queue_template,
    start_conversation,
)
from omni_common.tenancy.audit import record

log = structlog.get_logger(__name__)
# Shown inline in the page; anything else is downloaded as an attachment.
INLINE_TYPES = ("image/", "audio/", "video/")


async def list_messages(
    session: AsyncSession, chat_id: uuid.UUID, limit: int, viewer: uuid.UUID | None = None
) -> list[dict[str, Any]]:
    """The last ``limit`` messages of a chat, oldest first; reactions folded onto their message;
    replies signed by their user's name, "You" for the ``viewer``'s own."""
    at = func.coalesce(ChatMessage.platform_timestamp, ChatMessage.created_at)
    rows = list(
        (
            await session.execute(
                select(ChatMessage)
                .where(ChatMessage.chat_id == chat_id)
                .order_by(at.desc(), ChatMessage.created_at.desc())
                .limit(limit)
            )
        ).scalars()
    )
    rows.reverse()
    by_id = {m.id: m for m in rows}
    missing = {
        m.reply_to_message_id for m in rows if m.reply_to_message_id and m.reply_to_message_id not in by_id
    }
    if missing:
        extra = (await session.execute(select(ChatMessage).where(ChatMessage.id.in_(missing)))).scalars()
        by_id.update({m.id: m for m in extra})
    # The latest reaction of each sender wins; an empty emoji removes it.
    latest: dict[uuid.UUID, dict[str, str]] = {}
    folded: set[uuid.UUID] = set()
    for m in rows:
        target = m.reply_to_message_id
        if m.kind == "reaction" and target is not None and target in by_id:
            who = m.sender_handle or m.sender_name or m.direction
            latest.setdefault(target, {})[who] = m.reaction_emoji or ""
            folded.add(m.id)
    out = []
    for m in rows:
        if m.id in folded:
            continue
        quoted = by_id.get(m.reply_to_message_id) if m.reply_to_message_id else None
        reactions = [e for e in latest.get(m.id, {}).values() if e]
        out.append(message_view(m, quoted, reactions))
    await sign_replies(session, out, viewer)
    resent = {str(m.id) for m in rows if m.resent_as is not None}
    for item in out:
        if item["direction"] == "outbound" and item["status"] == "failed":
            # What to do about it, and whether Retry already sent it again (as a newer message).
            item["resent"] = item["id"] in resent
            item["next_step"] = (
                "Sent again below." if item["resent"] else next_step(item["channel"], item["error_code"])
            )
    return out


async def sign_replies(session: AsyncSession, items: list[dict[str, Any]], viewer: uuid.UUID | None) -> None:
    """Each staff reply signed with its user's name as it is now (``sent_by_name``), and
    ``sender_name`` "You" for the viewer's own; never an email, even on rows stored with one."""
    ids = {uuid.UUID(m["sent_by_user_id"]) for m in items if m.get("sent_by_user_id")}
    names: dict[str, str] = {}
    if ids:
        rows = await session.execute(select(User.id, User.display_name, User.email).where(User.id.in_(ids)))
        names = {str(r.id): person_name(r.display_name, r.email) for r in rows}
    for m in items:
        by = m.get("sent_by_user_id")
        if m["direction"] == "outbound" and by:
            m["sent_by_name"] = names.get(by) or _no_email(m.get("sender_name"))
            m["sender_name"] = "You" if viewer is not None and by == str(viewer) else m["sent_by_name"]
        elif m["direction"] == "outbound":
            m["sender_name"] = _no_email(m.get("sender_name"))
        quoted = m.get("reply_to")
        if quoted and quoted.get("direction") == "outbound":
            quoted["sender_name"] = _no_email(quoted.get("sender_name"))


def _no_email(name: str | None) -> str | None:
    return name_from_email(name) if name and "@" in name else name


async def chat_messages(
    deps: InboxDeps, user: Principal, chat_id: uuid.UUID, *, limit: int = 500
) -> list[dict[str, Any]]:
    """A chat's messages; NotFound when the tenant has no such chat.

    Reading changes nothing: marking read is ``POST /api/conversations/{id}/read`` (the page sends it
    when it opens a conversation), so a prefetch, a link preview or a crawler never clears unread.
    """
    async with deps.registry.session(user.tenant_id) as session:
        await get_or_404(session, Chat, chat_id, "no such conversation")
        return await list_messages(session, chat_id, limit, user.user_id)


async def record_reply(
    session: AsyncSession, user: Principal, queued: QueuedReply, suggestion_id: uuid.UUID | None
) -> None:
    """Audit a reply; when it started from an AI draft, record whether it was sent as is or edited."""
    chat_id, message_id, text = queued.chat_id, queued.message_id, queued.text
    actor = user.actor()
    details = {"message_id": str(message_id), "preview": text[:80], "length": len(text)}
    await record(session, actor, "reply.sent", target_type="conversation", target_id=chat_id, details=details)
    if suggestion_id is None:
        return
    outcome = await mark_used(session, suggestion_id, chat_id=chat_id, message_id=message_id, sent_text=text)
    if outcome is not None:
        action = "suggestion.used" if outcome == "sent_as_is" else "suggestion.edited"
        await record(
            session,
            actor,
            action,
            target_type="conversation",
            target_id=chat_id,
            details={"suggestion_id": str(suggestion_id), "message_id": str(message_id)},
        )


async def send_reply(
    deps: InboxDeps,
    user: Principal,
    chat_id: uuid.UUID,
    text: str,
    reply_to: uuid.UUID | None,
    suggestion_id: uuid.UUID | None = None,
) -> QueuedReply:
    """Queue a reply (committed), publish its command, and tell live inboxes about it."""

    async def queue(session: AsyncSession) -> QueuedReply:
        queued = await queue_reply(
            session,
            tenant_id=user.tenant_id,
            chat_id=chat_id,
            text=text,
            reply_to_message_id=reply_to,
            user_id=user.user_id,
        )
        await record_reply(session, user, queued, suggestion_id)
        return queued

    return await _send(deps, user, queue)


async def react(
    deps: InboxDeps, user: Principal, chat_id: uuid.UUID, message_id: uuid.UUID, emoji: str
) -> QueuedReply:
    """Queue a reaction to a customer's message (committed), publish it, and tell live inboxes."""

    async def queue(session: AsyncSession) -> QueuedReply:
        queued = await queue_reaction(
            session,
            tenant_id=user.tenant_id,
            chat_id=chat_id,
            message_id=message_id,
            emoji=emoji,
            user_id=user.user_id,
        )
        details = {"message_id": str(queued.message_id), "reacted_to": str(message_id), "emoji": queued.text}
        await record(
            session,
            user.actor(),
            "reaction.sent",
            target_type="conversation",
            target_id=chat_id,
            details=details,
        )
        return queued

    return await _send(deps, user, queue)


async def send_template(
    deps: InboxDeps,
    user: Principal,
    chat_id: uuid.UUID,
    request: TemplateRequest,
    reply_to: uuid.UUID | None = None,
) -> QueuedReply:
    """Queue a WhatsApp template (checked against the synced template first), publish, announce."""

    async def queue(session: AsyncSession) -> QueuedReply:
        queued = await queue_template(
            session,
            tenant_id=user.tenant_id,
            chat_id=chat_id,
            request=request,
            user_id=user.user_id,
            reply_to_message_id=reply_to,
        )
        await record_template(session, user, queued)
        return queued

    return await _send(deps, user, queue)


async def record_template(session: AsyncSession, user: Principal, queued: QueuedReply) -> None:
    """Audit a template send (which template, in which language; the values are in the message)."""
    template = queued.template or {}
    details = {
        "message_id": str(queued.message_id),
        "kind": "template",
        "template": template.get("name"),
        "language": template.get("language"),
        "preview": queued.text[:80],
    }
    await record(
        session,
        user.actor(),
        "reply.sent",
        target_type="conversation",
        target_id=queued.chat_id,
        details=details,
    )


async def write_first(
    deps: InboxDeps, user: Principal, account_id: uuid.UUID, to: str, request: TemplateRequest
) -> Started:
    """WhatsApp: open (or reuse) the conversation with a phone number and send it a template."""
    async with deps.registry.begin(user.tenant_id) as session:
        started = await start_conversation(
            session,
            tenant_id=user.tenant_id,
            account_id=account_id,
            to=to,
            request=request,
            user_id=user.user_id,
        )
        await record_template(session, user, started.queued)
    await publish_and_announce(deps, started.queued)
    return started


async def send_files(
    deps: InboxDeps,
    user: Principal,
    chat_id: uuid.UUID,
    files: list[FileIn],
    caption: str | None,
    reply_to: uuid.UUID | None = None,
) -> list[QueuedReply]:
    """Queue each file as its own message (and a caption where the platform has none), publish each."""
    async with deps.registry.begin(user.tenant_id) as session:
        queued = await queue_files(
            session,
            deps.storage,
            tenant_id=user.tenant_id,
            chat_id=chat_id,
            files=files,
            caption=caption,
            user_id=user.user_id,
            reply_to_message_id=reply_to,
        )
        for q in queued:
            details: dict[str, Any] = {
                "message_id": str(q.message_id),
                "kind": q.kind,
                "preview": q.text[:80],
            }
            if q.media:
                details |= {"filename": q.media.get("filename"), "size": q.media.get("size")}
            await record(
                session,
                user.actor(),
                "reply.sent",
                target_type="conversation",
                target_id=chat_id,
                details=details,
            )
    for q in queued:
        await publish_and_announce(deps, q)
    return queued


async def _send(
    deps: InboxDeps,
    user: Principal,
    queue: Callable[[AsyncSession], Awaitable[QueuedReply]],
    *,
    event: Literal["message.created", "message.status"] = "message.created",
) -> QueuedReply:
    """Queue an outbound message with its audit entries in one transaction; after the commit, hand
    it to the sender and show it in live inboxes."""
    async with deps.registry.begin(user.tenant_id) as session:
        queued = await queue(session)
    await publish_and_announce(deps, queued, event=event)
    return queued


async def publish_and_announce(
    deps: InboxDeps,
    queued: QueuedReply,
    *,
    event: Literal["message.created", "message.status"] = "message.created",
) -> None:
    """A committed outbound message handed to the sender and shown in live inboxes."""
    await publish_reply(deps.publisher, deps.registry.begin, queued)
    data = {"direction": "outbound", "kind": queued.kind, "status": "queued"}
    await announce(deps, queued.tenant_id, event, queued.chat_id, data, message_id=queued.message_id)


@dataclass(frozen=True)
class MediaFile:
    """A stored attachment and how to hand it to the browser: its bytes, or (object storage) a
    short-lived signed link to them."""

    data: bytes
    mime_type: str
    inline: bool
    filename: str
    url: str | None = None

    @property
    def disposition(self) -> str:
        return "inline" if self.inline else f"attachment; filename*=UTF-8''{quote(self.filename)}"

    @property
    def content_type(self) -> str:
        return self.mime_type if self.inline else "application/octet-stream"


async def media_file(deps: InboxDeps, user: Principal, message_id: uuid.UUID) -> MediaFile:
    """The stored media of a message of this tenant; NotFound when there is none. The message is
    looked up in the user's own tenant first: only then is the file read or a link signed."""
    async with deps.registry.session(user.tenant_id) as session:
        row = await session.get(ChatMessage, message_id)
    stored = row.media if row is not None and row.media else {}
    key = stored.get("storage_key")
    if row is None or stored.get("state") != "stored" or not key:
        raise NotFound("no such media")
    mime = str(stored.get("mime_type") or "application/octet-stream")
    inline = mime.startswith(INLINE_TYPES) and "svg" not in mime
    found = MediaFile(b"", mime, inline, str(stored.get("filename") or key))
    try:
        url = await deps.storage.browser_url(
            user.tenant_id, str(key), content_type=found.content_type, disposition=found.disposition
        )
        if url is not None:
            return replace(found, url=url)
        return replace(found, data=await deps.storage.get(user.tenant_id, str(key)))
    except (FileNotFoundError, ValueError) as exc:
        raise NotFound("no such media") from exc
