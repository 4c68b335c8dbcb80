"""Conversations: the list (keyset-paginated, filtered, searched) and marking one read."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import Select, and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth import CurrentUser, Deps
from inbox_api.queue_view import (
    BadFilter,
    QueueFilters,
    apply_filters,
    attach_labels,
    mark_read_for,
    queue_fields,
    with_queue_columns,
)
from omni_common.db.tenant_models import Chat, ChatMessage, Contact, SocialAccount
from omni_common.domain import reply_window
from omni_common.domain.channels import CHANNELS, channel_name

MAX_PAGE = 200


class BadCursor(ValueError):
    """A pagination cursor that this server did not make."""


def encode_cursor(last_message_at: datetime | None, chat_id: uuid.UUID) -> str:
    raw = json.dumps([last_message_at.isoformat() if last_message_at else None, str(chat_id)])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime | None, uuid.UUID]:
    try:
        ts, cid = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return (datetime.fromisoformat(ts) if ts else None), uuid.UUID(cid)
    except (ValueError, TypeError) as exc:
        raise BadCursor("invalid cursor") from exc


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class ConversationQuery:
    channel: str | None = None
    search: str | None = None
    cursor: str | None = None
    limit: int = 50
    filters: QueueFilters = field(default_factory=QueueFilters)
    viewer: uuid.UUID | None = None  # whose "mine" and per-user unread


def _after(cursor: str) -> Any:
    ts, cid = decode_cursor(cursor)
    # Order is (last_message_at DESC NULLS LAST, id DESC): rows "after" the cursor in that order.
    if ts is None:
        return and_(Chat.last_message_at.is_(None), Chat.id < cid)
    return or_(
        Chat.last_message_at < ts,
        and_(Chat.last_message_at == ts, Chat.id < cid),
        Chat.last_message_at.is_(None),
    )


def _select(viewer: uuid.UUID | None) -> Select[Any]:
    stmt = (
        select(Chat, Contact.display_name, Contact.handle, Contact.external_id, SocialAccount.display_name)
        .join(Contact, Contact.id == Chat.contact_id)
        .join(SocialAccount, SocialAccount.id == Chat.social_account_id)
    )
    return with_queue_columns(stmt, viewer)


def _list_query(q: ConversationQuery, now: datetime) -> Select[Any]:
    stmt = apply_filters(_select(q.viewer), q.filters, q.viewer, now)
    if q.channel:
        stmt = stmt.where(Chat.channel == q.channel)
    if q.search:
        pattern = _like(q.search.strip())
        text_match = exists().where(ChatMessage.chat_id == Chat.id, ChatMessage.text.ilike(pattern))
        stmt = stmt.where(or_(Contact.display_name.ilike(pattern), Contact.handle.ilike(pattern), text_match))
    if q.cursor:
        stmt = stmt.where(_after(q.cursor))
    return stmt.order_by(Chat.last_message_at.desc().nulls_last(), Chat.id.desc()).limit(q.limit + 1)


def conversation_view(
    chat: Chat,
    name: str | None,
    handle: str | None,
    ext: str,
    account: str | None,
    assignee_name: str | None = None,
    my_unread: int | None = None,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    closes_at = reply_window.closes_at(chat.last_inbound_at)
    return {
        "id": str(chat.id),
        "channel": chat.channel,
        "channel_label": channel_name(chat.channel),
        "contact_name": name or handle or ext,
        "contact_handle": handle or ext,
        "account_name": account,
        "last_message_at": chat.last_message_at.isoformat() if chat.last_message_at else None,
        "last_message_preview": chat.last_message_preview,
        "unread_count": chat.unread_count,
        "reply_window_open": reply_window.is_open(chat.last_inbound_at, now),
        "reply_window_closes_at": closes_at.isoformat() if closes_at else None,
    } | queue_fields(chat, assignee_name, my_unread, now)


async def list_conversations(session: AsyncSession, q: ConversationQuery) -> dict[str, Any]:
    """A page of conversations, newest activity first, with the cursor of the next page."""
    rows = (await session.execute(_list_query(q, datetime.now(UTC)))).all()
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    items = [conversation_view(*row) for row in rows]
    await attach_labels(session, items)
    next_cursor = encode_cursor(rows[-1][0].last_message_at, rows[-1][0].id) if more and rows else None
    return {"items": items, "next_cursor": next_cursor}


async def get_conversation(
    session: AsyncSession, chat_id: uuid.UUID, viewer: uuid.UUID | None = None
) -> dict[str, Any] | None:
    """One conversation, or None when this tenant has no such chat."""
    row = (await session.execute(_select(viewer).where(Chat.id == chat_id))).first()
    if not row:
        return None
    view = conversation_view(*row)
    await attach_labels(session, [view])
    return view


async def mark_read(session: AsyncSession, chat_id: uuid.UUID, user_id: uuid.UUID | None = None) -> bool:
    """Set a conversation's unread count to zero (and ``user_id``'s read marker); False: no such chat."""
    result = await session.execute(
        update(Chat).where(Chat.id == chat_id).values(unread_count=0).returning(Chat.id)
    )
    if result.first() is None:
        return False
    if user_id is not None:
        await mark_read_for(session, chat_id, user_id)
    return True


async def total_unread(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.sum(Chat.unread_count), 0))) or 0)


router = APIRouter(prefix="/api/conversations", tags=["conversations"])


@router.get("")
async def conversations(
    user: CurrentUser,
    deps: Deps,
    channel: Annotated[str | None, Query(description="whatsapp, facebook or instagram")] = None,
    q: Annotated[str | None, Query(max_length=200, description="search contact or message text")] = None,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    state: Annotated[str | None, Query(description="open, pending, resolved, snoozed or all")] = None,
    assignee: Annotated[str | None, Query(description="me, unassigned, all or a user id")] = None,
    label: Annotated[uuid.UUID | None, Query(description="a label id")] = None,
) -> dict[str, Any]:
    """Conversations of every channel, newest activity first (``next_cursor`` pages on).

    ``my_unread_count`` is the caller's own unread count; ``unread_count`` the tenant-wide one."""
    if channel is not None and channel not in CHANNELS:
        raise HTTPException(422, f"unknown channel {channel!r}")
    try:
        filters = QueueFilters(state=state, assignee=assignee, label=label).check()
        query = ConversationQuery(
            channel=channel,
            search=q or None,
            cursor=cursor,
            limit=limit,
            filters=filters,
            viewer=user.user_id,
        )
        async with deps.registry.session(user.tenant_id) as session:
            return await list_conversations(session, query)
    except (BadCursor, BadFilter) as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get("/{chat_id}")
async def conversation(chat_id: uuid.UUID, user: CurrentUser, deps: Deps) -> dict[str, Any]:
    """One conversation of this tenant."""
    async with deps.registry.session(user.tenant_id) as session:
        found = await get_conversation(session, chat_id, viewer=user.user_id)
    if found is None:
        raise HTTPException(404, "no such conversation")
    return found


@router.post("/{chat_id}/read", status_code=204)
async def read(chat_id: uuid.UUID, user: CurrentUser, deps: Deps) -> None:
    """Mark a conversation read (for the caller: other users' unread counts are theirs)."""
    async with deps.registry.begin(user.tenant_id) as session:
        if not await mark_read(session, chat_id, user.user_id):
            raise HTTPException(404, "no such conversation")
