"""AI suggestions in the inbox: the assistant settings, asking the suggester, and what became of drafts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.adapters.suggestions import NO_SUGGESTION
from inbox_api.auth.models import Principal
from inbox_api.deps import InboxDeps
from inbox_api.rows import get_or_404
from omni_common.contracts.assistant import DRAFT, Action, AssistantDocument, SuggestionReply, SuggestReply
from omni_common.contracts.assistant_sentences import LANGUAGE_NAMES
from omni_common.db.tenant_models import Chat, Suggestion, User
from omni_common.tenancy.assistant import read_document, write_document
from omni_common.tenancy.assistant_stats import AssistantStats, assistant_stats
from omni_common.tenancy.audit import record

log = structlog.get_logger(__name__)
OFF = "AI suggestions are off"
LOCAL = "local"  # the source of a draft written by the built-in suggester
NO_DRAFT = "There is no draft to work on: write something first."
NOT_RUNNING = "The AI assistant is not running right now; write your reply yourself."
UNANSWERED = "The AI assistant did not answer in time; try again in a moment."
NOTHING_DRAFTED = "The AI assistant could not write a draft for this conversation."


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


class SuggestAsk(BaseModel):
    """The optional body of ``POST /api/conversations/{id}/suggestions`` (none: a new suggestion)."""

    model_config = ConfigDict(extra="forbid")

    action: Action = "suggest"
    draft: str | None = Field(default=None, max_length=DRAFT)


def language_words(code: str | None) -> str | None:
    """ "German" for "de": a language as an owner names it (the code itself when it has no name)."""
    return LANGUAGE_NAMES.get(code, code) if code else None


def answer_words(reply: SuggestionReply | None, action: Action) -> dict[str, Any]:
    """The suggester's reply as the inbox answers it: a draft or the reason there is none, in words.

    Never a bare "no suggestion": a missing answer, a limit and a refusal each say what happened."""
    if reply is None:
        return {"text": None, "action": action, "reason": UNANSWERED, "limited": False}
    answer: dict[str, Any] = {
        "action": action,
        "language": reply.language,
        "language_name": language_words(reply.language),
        "limited": reply.limited,
        "retry_after_s": reply.retry_after_s,
        "note": reply.note,
    }
    if reply.limited:
        return answer | {"text": None, "reason": reply.reason or limit_words(reply.retry_after_s or 60)}
    if reply.text is None:
        if reply.reason and reply.reason != NO_SUGGESTION:
            return answer | {"text": None, "reason": reply.reason}
        # The suggester's note says why (e.g. "I can't translate this without an AI model").
        return answer | {"text": None, "reason": reply.note or NOTHING_DRAFTED, "note": None}
    return answer | {
        "text": reply.text,
        "suggestion_id": str(reply.suggestion_id) if reply.suggestion_id else None,
        "source": reply.source,
        "fell_back": reply.source == LOCAL and reply.note is not None,
        "ai_generated": True,
    }


def limit_words(seconds: int) -> str:
    """ "AI limit reached, try again in 40 s" (minutes or hours for longer waits)."""
    if seconds < 90:
        wait = f"{seconds} s"
    elif seconds < 90 * 60:
        wait = f"{round(seconds / 60)} min"
    else:
        wait = f"{round(seconds / 3600)} h"
    return f"AI limit reached, try again in {wait}"


async def suggest(
    deps: InboxDeps, user: Principal, chat_id: uuid.UUID, ask: SuggestAsk | None = None
) -> dict[str, Any]:
    """A draft for ``chat_id``: the next reply, or the owner's ``draft`` rewritten, shortened or
    translated. Only ever returned to the caller, never sent; NotFound when this tenant has no such chat.
    """
    ask = ask or SuggestAsk()
    async with deps.registry.session(user.tenant_id) as session:
        chat = await get_or_404(session, Chat, chat_id, "no such conversation")
        enabled = (await read_document(session)).enabled
    if not enabled:
        return {"text": None, "action": ask.action, "reason": OFF, "limited": False}
    if ask.action != "suggest" and not (ask.draft or "").strip():
        return {"text": None, "action": ask.action, "reason": NO_DRAFT, "limited": False}
    if deps.suggester is None:
        return {"text": None, "action": ask.action, "reason": NOT_RUNNING, "limited": False}
    # Validated, not constructed: the row's channel is a plain string, the request's a Channel.
    request = SuggestReply.model_validate(
        {
            "request_id": uuid.uuid4(),
            "tenant_id": user.tenant_id,
            "chat_id": chat_id,
            "user_id": user.user_id,
            "channel": chat.channel,
            "deadline": datetime.now(UTC) + timedelta(seconds=deps.suggester.timeout_s),
            "action": ask.action,
            "draft": ask.draft if ask.action != "suggest" else None,
        }
    )
    reply = await deps.suggester.ask(request)
    answer = answer_words(reply, ask.action)
    log.info(
        "suggestion_answered", action=ask.action, ok=answer["text"] is not None,
        limited=answer["limited"], fell_back=answer.get("fell_back", False),
    )  # fmt: skip
    return answer


async def chat_language(session: AsyncSession, chat_id: uuid.UUID) -> dict[str, Any]:
    """The customer's language as the suggester last told it for ``chat_id`` (None: not known yet)."""
    await get_or_404(session, Chat, chat_id, "no such conversation")
    code = await session.scalar(
        select(Suggestion.language)
        .where(Suggestion.chat_id == chat_id, Suggestion.language.is_not(None))
        .order_by(Suggestion.requested_at.desc())
        .limit(1)
    )
    return {"language": code, "language_name": language_words(code)}


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
            "action": s.action,
            "language": s.language,
            "note": s.note,
            "outcome": s.outcome,
            "used_message_id": str(s.used_message_id) if s.used_message_id else None,
        }
        for s, email in rows
    ]


def share(part: int, whole: int) -> str:
    """ "12 (40 %)": a count and its share of ``whole`` (no share of nothing)."""
    return f"{part} ({round(100 * part / whole)} %)" if whole else str(part)


def money(usd: float) -> str:
    """ "about $0.42"; "less than $0.01" for a few tokens, "$0" for none."""
    if usd <= 0:
        return "$0"
    if usd < 0.01:
        return "less than $0.01"
    return f"about ${usd:,.2f}"


def figures(stats: AssistantStats) -> list[tuple[str, str]]:
    """How well the AI helped in ``stats.days`` days, as (what, how many) lines an owner reads.

    Shares of drafts: used as is, used after editing, discarded (never sent); the rest are recent
    drafts still in someone's composer."""
    drafted = stats.drafted
    lines = [
        ("Suggestions and draft changes asked for", str(stats.asked)),
        ("Drafts written", str(drafted)),
        ("Sent as they were", share(stats.used_as_is, drafted)),
        ("Sent after editing", share(stats.used_edited, drafted)),
        ("Discarded (never sent)", share(stats.discarded, drafted)),
        ("Refused by the AI limit", str(stats.limited)),
        ("Written by the built-in assistant because the AI model failed", str(stats.fell_back)),
        ("AI model use (tokens)", f"{stats.model_tokens:,}"),
        ("Estimated AI model cost", money(stats.cost_estimate_usd)),
    ]
    if stats.pending:
        lines.insert(5, ("Drafted in the last hour, not sent yet", str(stats.pending)))
    return lines


async def assistant_figures(session: AsyncSession, days: int = 30) -> list[tuple[str, str]]:
    """The last ``days`` days of this tenant's suggestions, as figures for the AI settings page."""
    return figures(await assistant_stats(session, days=days))
