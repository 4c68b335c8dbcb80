"""JSON routes of a conversation's private notes."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from inbox_api.auth.dependencies import CurrentUser, Deps, TenantSession
from inbox_api.notes.models import NoteIn
from inbox_api.notes.service import conversation_notes, post_note

router = APIRouter(tags=["notes"])


@router.get("/api/conversations/{chat_id}/notes", responses={404: {}})
async def notes(chat_id: uuid.UUID, session: TenantSession) -> list[dict[str, Any]]:
    """A conversation's private notes (staff only, never sent), oldest first."""
    return await conversation_notes(session, chat_id)


@router.post("/api/conversations/{chat_id}/notes", status_code=201, responses={404: {}, 422: {}})
async def create_note(chat_id: uuid.UUID, body: NoteIn, user: CurrentUser, deps: Deps) -> dict[str, Any]:
    """Add a private note ``{"body": ...}``: visible to the team, never sent to the customer."""
    return await post_note(deps, user, chat_id, body.body)
