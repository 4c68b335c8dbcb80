"""Messages of a conversation: the history (oldest first), replying, and stored media."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

import structlog
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.assistant import mark_used
from inbox_api.audit_api import record_reply
from inbox_api.auth import CurrentUser, Deps, Principal
from inbox_api.conversations import mark_read
from inbox_api.deps import InboxDeps
from omni_common.contracts import NotificationEvent
from omni_common.db.tenant_models import Chat, ChatMessage
from omni_common.outbound.replies import (
    AccountUnavailable,
    ChatNotFound,
    QueuedReply,
    ReplyRefused,
    WindowClosed,
    publish_reply,
    queue_reply,
)

log = structlog.get_logger(__name__)
# Shown inline in the page; anything else is downloaded as an attachment.
INLINE_TYPES = ("image/", "audio/", "video/")
MAX_MESSAGES = 1000


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _media_view(m: ChatMessage) -> dict[str, Any] | None:
    media = m.media
    if not media:
        return None
    state = media.get("state")
    return {
        "kind": media.get("kind"),
        "mime_type": media.get("mime_type"),
        "caption": media.get("caption"),
        "filename": media.get("filename"),
        "state": state,
        "download_url": f"/api/media/{m.id}" if state == "stored" else None,
        # Story media is only linked (Meta's rule): the CDN link, which expires with the story.
        "link": media.get("url") if state == "linked" else None,
    }


def _location(m: ChatMessage) -> dict[str, Any] | None:
    loc = ((m.raw_payload or {}).get("_omni") or {}).get("location")
    if not loc:
        return None
    lat, lng = loc.get("latitude"), loc.get("longitude")
    return {
        **{k: loc.get(k) for k in ("latitude", "longitude", "name", "address")},
        "map_url": loc.get("url")
        or f"https://www.openstreetmap.org/?mlat={lat}&mlon={lng}#map=17/{lat}/{lng}",
    }


def _quote(m: ChatMessage | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {
        "id": str(m.id),
        "text": m.text,
        "kind": m.kind,
        "sender_name": m.sender_name,
        "direction": m.direction,
    }


def message_view(
    m: ChatMessage, quoted: ChatMessage | None = None, reactions: list[str] | None = None
) -> dict[str, Any]:
    story = ((m.raw_payload or {}).get("_omni") or {}).get("story")
    return {
        "id": str(m.id),
        "chat_id": str(m.chat_id),
        "channel": m.channel,
        "direction": m.direction,
        "external_message_id": m.external_message_id,
        "sender_name": m.sender_name,
        "sender_handle": m.sender_handle,
        "kind": m.kind,
        "text": m.text,
        "status": m.status,
        "status_at": _iso(m.status_at),
        "error_code": m.error_code,
        "error_message": m.error_message,
        "created_at": _iso(m.platform_timestamp or m.created_at),
        "platform_timestamp": _iso(m.platform_timestamp),
        "media": _media_view(m),
        "location": _location(m),
        "story": story,
        "reaction": m.reaction_emoji if m.kind != "reaction" else None,
        "reactions": reactions or [],
        "reply_to": _quote(quoted) if quoted is not None else None,
        "reply_to_external_id": m.reply_to_external_id,
        "deleted": m.deleted_at is not None or m.kind == "deleted",
        "edited": m.edited_at is not None,
        "sent_by_user_id": str(m.sent_by_user_id) if m.sent_by_user_id else None,
    }


async def list_messages(session: AsyncSession, chat_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
    """The last ``limit`` messages of a chat, oldest first; reactions folded onto their message."""
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
    for m in rows:
        if m.kind == "reaction" and m.reply_to_message_id in by_id:
            who = m.sender_handle or m.sender_name or m.direction
            latest.setdefault(m.reply_to_message_id, {})[who] = m.reaction_emoji or ""  # type: ignore[index]
    out = []
    for m in rows:
        if m.kind == "reaction" and m.reply_to_message_id in by_id:
            continue
        quoted = by_id.get(m.reply_to_message_id) if m.reply_to_message_id else None
        reactions = [e for e in latest.get(m.id, {}).values() if e]
        out.append(message_view(m, quoted, reactions))
    return out


async def chat_messages(
    deps: InboxDeps, user: Principal, chat_id: uuid.UUID, *, limit: int = 500, read: bool = True
) -> list[dict[str, Any]] | None:
    """A chat's messages (None if the tenant has no such chat), marking it read when ``read``."""
    async with deps.registry.begin(user.tenant_id) as session:
        if read:
            if not await mark_read(session, chat_id, user.user_id):
                return None
        elif await session.get(Chat, chat_id) is None:
            return None
        return await list_messages(session, chat_id, limit)


async def send_reply(
    deps: InboxDeps,
    user: Principal,
    chat_id: uuid.UUID,
    text: str,
    reply_to: uuid.UUID | None,
    suggestion_id: uuid.UUID | None = None,
) -> QueuedReply:
    """Queue a reply (committed), publish its command, and tell live inboxes about it."""
    async with deps.registry.begin(user.tenant_id) as session:
        queued = await queue_reply(
            session,
            tenant_id=user.tenant_id,
            chat_id=chat_id,
            text=text,
            reply_to_message_id=reply_to,
            user_id=user.user_id,
        )
        outcome = None
        if suggestion_id is not None:  # a human sends it: record whether the draft was edited
            outcome = await mark_used(
                session, suggestion_id, chat_id=chat_id, message_id=queued.message_id, sent_text=text
            )
        await record_reply(
            session,
            user,
            chat_id=chat_id,
            message_id=queued.message_id,
            text=text,
            suggestion_id=suggestion_id,
            suggestion_outcome=outcome,
        )
    await publish_and_announce(deps, user.tenant_id, chat_id, queued, kind="text")
    return queued


async def publish_and_announce(
    deps: InboxDeps, tenant_id: uuid.UUID, chat_id: uuid.UUID, queued: Any, *, kind: str
) -> None:
    """After the commit: hand a queued outbound message to the sender, and show it in live inboxes."""
    await publish_reply(deps.publisher, deps.registry.begin, queued)
    await deps.hub.announce(
        NotificationEvent(
            tenant_id=tenant_id,
            kind="message.created",
            chat_id=chat_id,
            message_id=queued.message_id,
            data={"direction": "outbound", "kind": kind, "status": "queued"},
            occurred_at=datetime.now(UTC),
        )
    )


def refusal_status(exc: ReplyRefused) -> int:
    return 409 if isinstance(exc, AccountUnavailable | WindowClosed) else 422


class ReplyIn(BaseModel):
    text: str = Field(max_length=8192)
    reply_to: uuid.UUID | None = None
    suggestion_id: uuid.UUID | None = None  # the AI draft this reply started from, if any


router = APIRouter(tags=["messages"])


@router.get("/api/conversations/{chat_id}/messages")
async def messages(
    chat_id: uuid.UUID,
    user: CurrentUser,
    deps: Deps,
    limit: Annotated[int, Query(ge=1, le=MAX_MESSAGES)] = 500,
    mark_read: Annotated[bool, Query(description="opening a conversation marks it read")] = True,
) -> list[dict[str, Any]]:
    """A conversation's messages, oldest first (the last ``limit``); marks it read."""
    found = await chat_messages(deps, user, chat_id, limit=limit, read=mark_read)
    if found is None:
        raise HTTPException(404, "no such conversation")
    return found


@router.post("/api/conversations/{chat_id}/messages", status_code=202, responses={404: {}, 409: {}, 422: {}})
async def reply(chat_id: uuid.UUID, body: ReplyIn, user: CurrentUser, deps: Deps) -> Any:
    """Queue a reply; its status then moves to sent, delivered, read or failed."""
    try:
        queued = await send_reply(deps, user, chat_id, body.text, body.reply_to, body.suggestion_id)
    except ChatNotFound as exc:
        raise HTTPException(404, "no such conversation") from exc
    except ReplyRefused as exc:
        return JSONResponse({"detail": str(exc), "reason": exc.reason}, status_code=refusal_status(exc))
    return queued.to_dict()


@router.get("/api/media/{message_id}", responses={404: {}})
async def media(message_id: uuid.UUID, user: CurrentUser, deps: Deps) -> Response:
    """The stored media of a message of this tenant."""
    async with deps.registry.session(user.tenant_id) as session:
        row = await session.get(ChatMessage, message_id)
    stored = row.media if row is not None and row.media else {}
    key = stored.get("storage_key")
    if row is None or stored.get("state") != "stored" or not key:
        raise HTTPException(404, "no such media")
    try:
        data = await deps.storage.get(user.tenant_id, str(key))
    except (FileNotFoundError, ValueError) as exc:
        raise HTTPException(404, "no such media") from exc
    mime = str(stored.get("mime_type") or "application/octet-stream")
    inline = mime.startswith(INLINE_TYPES) and "svg" not in mime
    name = str(stored.get("filename") or key)
    disposition = "inline" if inline else f"attachment; filename*=UTF-8''{quote(name)}"
    return Response(
        data,
        media_type=mime if inline else "application/octet-stream",
        headers={
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
            "Content-Security-Policy": "sandbox",
        },
    )
