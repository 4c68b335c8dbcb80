"""Private notes: staff-only remarks inside a conversation.

A note is a row of ``chat_notes``; nothing here writes ``chat_messages`` or the outbox, and the
outbound-sender only reads those, so there is no path by which a note could reach a customer.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth import CurrentUser, Deps, Principal
from inbox_api.deps import InboxDeps
from inbox_api.workflow import actor_of, announce
from omni_common.db.tenant_models import Chat, ChatNote, User
from omni_common.tenancy.audit import record

log = structlog.get_logger(__name__)
EARLIEST = datetime.min.replace(tzinfo=UTC)
NoteBody = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4096)]


class NoteIn(BaseModel):
    body: NoteBody


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
            select(ChatNote, func.coalesce(User.display_name, User.email))
            .outerjoin(User, User.id == ChatNote.author_user_id)
            .where(ChatNote.chat_id == chat_id)
            .order_by(ChatNote.created_at.desc())
            .limit(limit)
        )
    ).all()
    return [note_view(n, author) for n, author in reversed(rows)]


async def add_note(
    session: AsyncSession, user: Principal, chat_id: uuid.UUID, body: str
) -> dict[str, Any] | None:
    """Write a note (and its audit entry); None when the tenant has no such conversation."""
    if await session.get(Chat, chat_id) is None:
        return None
    note = ChatNote(chat_id=chat_id, author_user_id=user.user_id, body=body)
    session.add(note)
    await session.flush()
    await session.refresh(note)
    await record(
        session,
        actor_of(user),
        "note.added",
        target_type="conversation",
        target_id=chat_id,
        details={"note_id": str(note.id), "length": len(body)},
    )
    return note_view(note, user.display_name or user.email)


async def post_note(deps: InboxDeps, user: Principal, chat_id: uuid.UUID, body: str) -> dict[str, Any] | None:
    """Commit a note and tell live inboxes; None when the tenant has no such conversation."""
    async with deps.registry.begin(user.tenant_id) as session:
        view = await add_note(session, user, chat_id, body)
    if view is not None:
        log.info("note_added", chat_id=str(chat_id))
        await announce(deps, user, "note.created", chat_id, {"note_id": view["id"]})
    return view


def merge_timeline(messages: list[dict[str, Any]], notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages and notes in one history, by time; a note item carries ``"note": True``."""
    if not notes:
        return messages

    def at(item: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(item["created_at"]) if item.get("created_at") else EARLIEST

    # sorted() is stable: messages keep their own order, notes land by their time.
    return sorted([*messages, *({**n, "note": True} for n in notes)], key=at)


router = APIRouter(tags=["notes"])


@router.get("/api/conversations/{chat_id}/notes", responses={404: {}})
async def notes(chat_id: uuid.UUID, user: CurrentUser, deps: Deps) -> list[dict[str, Any]]:
    """A conversation's private notes (staff only, never sent), oldest first."""
    async with deps.registry.session(user.tenant_id) as session:
        if await session.get(Chat, chat_id) is None:
            raise HTTPException(404, "no such conversation")
        return await list_notes(session, chat_id)


@router.post("/api/conversations/{chat_id}/notes", status_code=201, responses={404: {}, 422: {}})
async def create_note(chat_id: uuid.UUID, body: NoteIn, user: CurrentUser, deps: Deps) -> dict[str, Any]:
    """Add a private note ``{"body": ...}``: visible to the team, never sent to the customer."""
    view = await post_note(deps, user, chat_id, body.body)
    if view is None:
        raise HTTPException(404, "no such conversation")
    return view
