"""JSON routes of the AI assistant: its settings document, a suggested reply, the suggestions log."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from inbox_api.assistant.service import (
    SuggestAsk,
    chat_language,
    recent_suggestions,
    suggest,
    write_assistant,
)
from inbox_api.auth.dependencies import CurrentUser, Deps, TenantSession, TenantTransaction
from omni_common.contracts.assistant import AssistantDocument
from omni_common.tenancy.assistant import read_document

router = APIRouter(tags=["assistant"])


@router.get("/api/assistant")
async def get_assistant(session: TenantSession) -> AssistantDocument:
    """The tenant's AI settings and knowledge (AI is off until the owner turns it on)."""
    return await read_document(session)


@router.put("/api/assistant")
async def put_assistant(
    body: AssistantDocument, user: CurrentUser, session: TenantTransaction
) -> AssistantDocument:
    """Replace the tenant's AI settings and knowledge (the owner only: ``auth/roles``)."""
    await write_assistant(session, user, body)
    return body


@router.post("/api/conversations/{chat_id}/suggestions", responses={404: {}, 422: {}})
async def suggestions(
    chat_id: uuid.UUID, user: CurrentUser, deps: Deps, body: SuggestAsk | None = None
) -> dict[str, Any]:
    """A draft ``{"text": ...}`` for the composer, never sent by itself: the next reply (no body, or
    ``{"action": "suggest"}``) or the owner's ``draft`` rewritten, shortened or translated.

    No draft: ``text`` is ``null`` and ``reason`` says why (``limited`` with ``retry_after_s`` when
    the AI limit is reached). ``note`` tells the owner about this draft (e.g. the model failed and
    the built-in suggester wrote it); ``language``/``language_name`` is the customer's language."""
    return await suggest(deps, user, chat_id, body)


@router.get("/api/conversations/{chat_id}/assistant", responses={404: {}})
async def conversation_assistant(chat_id: uuid.UUID, session: TenantSession) -> dict[str, Any]:
    """The customer's language as last told by the assistant (``null`` until it has read the chat)."""
    return await chat_language(session, chat_id)


@router.get("/api/assistant/suggestions")
async def suggestion_log(session: TenantSession, limit: int = 100) -> list[dict[str, Any]]:
    """Recent suggestions for review: who asked, when, from what, the text, and whether it was used."""
    return await recent_suggestions(session, limit)
