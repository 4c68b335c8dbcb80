"""AI suggestions in the inbox: the assistant settings, asking the suggester, and what became of drafts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.adapters.suggestions import NO_SUGGESTION
from inbox_api.auth.models import Principal
from inbox_api.deps import InboxDeps
from inbox_api.rows import get_or_404
from omni_common.contracts.assistant import AssistantDocument, SuggestReply
from omni_common.db.tenant_models import Chat, Suggestion, User
from omni_common.tenancy.assistant import read_document, write_document
from omni_common.tenancy.audit import record

log = structlog.get_logger(__name__)
OFF = "AI suggestions are off"


async def write_assistant(session: AsyncSession, user: Principal, doc: AssistantDocument) -> None:
    """Save the assistant settings and record which parts changed."""
    before = await read_document(session)
    await write_document(session, doc, user.user_id)
    changed = [k for k in AssistantDocument.model_fields if getattr(before, k) != getattr(doc, k)]
    if changed:
        await record(
            session,
            user.actor(),
            "assistant.updated",
            target_type="assistant",
            details={"changed": changed, "enabled": doc.enabled},
        )
    log.info("assistant_updated", enabled=doc.enabled, menu=len(doc.menu), faq=len(doc.faq))


async def mark_used(
    session: AsyncSession,
    suggestion_id: uuid.UUID,
    *,
    chat_id: uuid.UUID,
    message_id: uuid.UUID,
    sent_text: str,
) -> str | None:
    """Record that a suggestion was sent, as drafted or edited (in the reply's own transaction).

    Returns the outcome ("sent_as_is" or "edited"), None when nothing was recorded."""
    row = await session.get(Suggestion, suggestion_id)
    if row is None or row.chat_id != chat_id or row.text is None or row.outcome is not None:
        return None  # unknown, another chat's, or already recorded: the reply itself still goes out
    outcome = "sent_as_is" if sent_text.strip() == row.text.strip() else "edited"
    await session.execute(
        update(Suggestion)
        .where(Suggestion.id == suggestion_id)
        .values(outcome=outcome, used_message_id=message_id, used_at=datetime.now(UTC))
    )
    return outcome


async def suggest(deps: InboxDeps, user: Principal, chat_id: uuid.UUID) -> dict[str, Any]:
    """Ask for a draft of ``chat_id``'s next reply; NotFound when this tenant has no such chat."""
    async with deps.registry.session(user.tenant_id) as session:
        chat = await get_or_404(session, Chat, chat_id, "no such conversation")
        enabled = (await read_document(session)).enabled
    if not enabled:
        return {"text": None, "reason": OFF}
    if deps.suggester is None:
        return {"text": None, "reason": NO_SUGGESTION}
    # Validated, not constructed: the row's channel is a plain string, the request's a Channel.
    request = SuggestReply.model_validate(
        {
            "request_id": uuid.uuid4(),
            "tenant_id": user.tenant_id,
            "chat_id": chat_id,
            "user_id": user.user_id,
            "channel": chat.channel,
            "deadline": datetime.now(UTC) + timedelta(seconds=deps.suggester.timeout_s),
        }
    )
    reply = await deps.suggester.ask(request)
    if reply is None or reply.text is None:
        return {"text": None, "reason": (reply.reason if reply else None) or NO_SUGGESTION}
    return {
        "text": reply.text,
        "suggestion_id": str(reply.suggestion_id) if reply.suggestion_id else None,
        "source": reply.source,
        "ai_generated": True,
    }


async def recent_suggestions(session: AsyncSession, limit: int) -> list[dict[str, Any]]:
    """Recent suggestions, newest first: who asked, when, from what, the text, and whether it was used."""
    query = (
        select(Suggestion, User.email)
        .outerjoin(User, User.id == Suggestion.requested_by)
        .order_by(Suggestion.requested_at.desc())
        .limit(max(1, min(limit, 500)))
    )
    rows = (await session.execute(query)).all()
    return [
        {
            "id": str(s.id),
            "chat_id": str(s.chat_id),
            "requested_by": email,
            "requested_at": s.requested_at.isoformat(),
            "source": s.source,
            "text": s.text,
            "reason": s.reason,
            "outcome": s.outcome,
            "used_message_id": str(s.used_message_id) if s.used_message_id else None,
        }
        for s, email in rows
    ]
