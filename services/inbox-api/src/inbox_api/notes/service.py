"""Private notes: staff-only remarks inside a conversation.

A note is a row of ``chat_notes``; nothing here writes ``chat_messages`` or the outbox, and the
outbound-sender only reads those, so there is no path by which a note could reach a customer.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.models import Principal
from inbox_api.deps import InboxDeps
from inbox_api.live.service import announce
from inbox_api.rows import get_or_404
from omni_common.db.tenant_models import Chat, ChatNote, User
from omni_common.domain.people import person_name
from omni_common.tenancy.audit import record

log = structlog.get_logger(__name__)
EARLIEST = datetime.min.replace(tzinfo=UTC)


def note_view(note: ChatNote, author: str | None) -> dict[str, Any]:
    return {
        "id": str(note.id),
        "chat_id": str(note.chat_id),
        "body": note.body,
        "author_user_id": str(note.author_user_id) if note.author_user_id else None,
        "author_name": author,
        "created_at": note.created_at.isoformat(),
    }


async def list_notes(session: AsyncSession, chat_id: uuid.UUID, limit: int = 500) -> list[dict[str, Any]]:
    """A conversation's notes, oldest first (the last ``limit``)."""
    rows = (
        await session.execute(
            select(ChatNote, User.display_name, User.email)
            .outerjoin(User, User.id == ChatNote.author_user_id)
            .where(ChatNote.chat_id == chat_id)
            .order_by(ChatNote.created_at.desc())
            .limit(limit)
        )
    ).all()
    # Authors by the name they go by, never their email (issue 18).
    return [note_view(n, person_name(name, email) if email else None) for n, name, email in reversed(rows)]


async def conversation_notes(session: AsyncSession, chat_id: uuid.UUID) -> list[dict[str, Any]]:
    """A conversation's notes; NotFound when the tenant has no such conversation."""
    await get_or_404(session, Chat, chat_id, "no such conversation")
    return await list_notes(session, chat_id)


async def add_note(session: AsyncSession, user: Principal, chat_id: uuid.UUID, body: str) -> dict[str, Any]:
    """Write a note (and its audit entry); NotFound when the tenant has no such conversation."""
    await get_or_404(session, Chat, chat_id, "no such conversation")
    note = ChatNote(chat_id=chat_id, author_user_id=user.user_id, body=body)
    session.add(note)
    await session.flush()
    await session.refresh(note)
    await record(
        session,
        user.actor(),
        "note.added",
        target_type="conversation",
        target_id=chat_id,
        details={"note_id": str(note.id), "length": len(body)},
    )
    return note_view(note, user.name)


async def post_note(deps: InboxDeps, user: Principal, chat_id: uuid.UUID, body: str) -> dict[str, Any]:
    """Commit a note and tell live inboxes; NotFound when the tenant has no such conversation."""
    async with deps.registry.begin(user.tenant_id) as session:
        view = await add_note(session, user, chat_id, body)
    log.info("note_added", chat_id=str(chat_id))
    await announce(deps, user.tenant_id, "note.created", chat_id, {"note_id": view["id"]}, by=user.user_id)
    return view


def merge_timeline(messages: list[dict[str, Any]], notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages and notes in one history, by time; a note item carries ``"note": True``."""
    if not notes:
        return messages

    def at(item: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(item["created_at"]) if item.get("created_at") else EARLIEST

    # sorted() is stable: messages keep their own order, notes land by their time.
    return sorted([*messages, *({**n, "note": True} for n in notes)], key=at)
