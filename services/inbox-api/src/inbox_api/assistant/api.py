"""JSON routes of the AI assistant: its settings document, a suggested reply, the suggestions log."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from inbox_api.assistant.service import recent_suggestions, suggest, write_assistant
from inbox_api.auth.dependencies import CurrentUser, Deps, TenantSession, TenantTransaction
from omni_common.contracts.assistant import AssistantDocument
from omni_common.tenancy.assistant import read_document

router = APIRouter(tags=["assistant"])


@router.get("/api/assistant")
async def get_assistant(session: TenantSession) -> AssistantDocument:
    """The tenant's AI settings and knowledge (AI is off until an owner or manager turns it on)."""
    return await read_document(session)


@router.put("/api/assistant")
async def put_assistant(
    body: AssistantDocument, user: CurrentUser, session: TenantTransaction
) -> AssistantDocument:
    """Replace the tenant's AI settings and knowledge."""
    await write_assistant(session, user, body)
    return body


@router.post("/api/conversations/{chat_id}/suggestions", responses={404: {}})
async def suggestions(chat_id: uuid.UUID, user: CurrentUser, deps: Deps) -> dict[str, Any]:
    """A suggested reply ``{"text": ...}`` (``null`` with a reason when none); never sent by itself."""
    return await suggest(deps, user, chat_id)


@router.get("/api/assistant/suggestions")
async def suggestion_log(session: TenantSession, limit: int = 100) -> list[dict[str, Any]]:
    """Recent suggestions for review: who asked, when, from what, the text, and whether it was used."""
    return await recent_suggestions(session, limit)
