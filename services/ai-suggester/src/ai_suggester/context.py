"""What a suggestion may know, read by code from the asking tenant's database only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ai_suggester.prompt import HistoryLine
from omni_common.contracts.assistant import AssistantDocument
from omni_common.db.tenant_models import Chat, ChatMessage, Suggestion
from omni_common.tenancy.assistant import read_document

HISTORY = 20


@dataclass(frozen=True)
class SuggestContext:
    """The tenant's assistant document and the recent text messages of one conversation."""

    document: AssistantDocument
    history: list[HistoryLine]

    @property
    def last_customer_text(self) -> str:
        """The latest inbound text (what a reply answers), or empty."""
        return next((h.text for h in reversed(self.history) if h.direction == "inbound"), "")


async def load_context(session: AsyncSession, chat_id: uuid.UUID) -> SuggestContext | None:
    """Document + recent messages of ``chat_id``; None when this tenant has no such chat."""
    if await session.get(Chat, chat_id) is None:
        return None
    at = func.coalesce(ChatMessage.platform_timestamp, ChatMessage.created_at)
    rows = (
        await session.execute(
            select(ChatMessage.direction, ChatMessage.text)
            .where(
                ChatMessage.chat_id == chat_id,
                ChatMessage.text.is_not(None),
                ChatMessage.deleted_at.is_(None),
            )
            .order_by(at.desc(), ChatMessage.created_at.desc())
            .limit(HISTORY)
        )
    ).all()
    history = [HistoryLine(direction, text) for direction, text in reversed(rows) if text and text.strip()]
    return SuggestContext(await read_document(session), history)


@dataclass(frozen=True)
class Budget:
    """Per-tenant limits: suggestions per minute (any source) and model tokens per day."""

    requests_per_minute: int = 10
    tokens_per_day: int = 200_000


async def over_budget(
    session: AsyncSession, budget: Budget, *, model: bool, now: datetime | None = None
) -> bool:
    """True when this tenant has used its suggestions per minute (or, for a model, its tokens today)."""
    now = now or datetime.now(UTC)
    recent = await session.scalar(
        select(func.count())
        .select_from(Suggestion)
        .where(Suggestion.requested_at > now - timedelta(minutes=1))
    )
    if int(recent or 0) >= budget.requests_per_minute:
        return True
    if not model:
        return False
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    used = await session.scalar(
        select(func.coalesce(func.sum(Suggestion.tokens), 0)).where(Suggestion.requested_at >= midnight)
    )
    return int(used or 0) >= budget.tokens_per_day
