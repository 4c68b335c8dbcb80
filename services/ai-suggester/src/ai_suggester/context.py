"""What a suggestion may know, read by code from the asking tenant's database only; and its limits."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ai_suggester.prompt import HistoryLine
from omni_common.contracts.assistant import AssistantDocument
from omni_common.db.tenant_models import Chat, ChatMessage
from omni_common.tenancy.assistant import TenantLimits, read_document, read_limits

HISTORY = 20
LIMITED = "limited"  # the ``reason`` of a request refused by the per-minute limit


@dataclass(frozen=True)
class SuggestContext:
    """The tenant's assistant document and the recent text messages of one conversation."""

    document: AssistantDocument
    history: list[HistoryLine]

    @property
    def customer_messages(self) -> list[str]:
        """The customer's messages, oldest first."""
        return [h.text for h in self.history if h.direction == "inbound"]

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
    """Limits per tenant: suggestions per minute (any source and action), model tokens per day (UTC).

    The service's defaults (``OMNI_AI_SUGGESTIONS_PER_MINUTE``, ``OMNI_AI_TOKENS_PER_DAY``); the
    operator may override both for one tenant (``omni ai limits``)."""

    requests_per_minute: int = 30
    tokens_per_day: int = 200_000

    def for_tenant(self, limits: TenantLimits) -> Budget:
        """These defaults with the tenant's overrides applied."""
        return Budget(
            requests_per_minute=limits.suggestions_per_minute or self.requests_per_minute,
            tokens_per_day=self.tokens_per_day if limits.tokens_per_day is None else limits.tokens_per_day,
        )


@dataclass(frozen=True)
class BudgetState:
    """Where a tenant stands: over the per-minute limit (and for how long), out of model tokens today."""

    limited: bool = False
    retry_after_s: int | None = None  # when ``limited``: seconds until a request is allowed again
    tokens_exhausted: bool = False
    tokens_back_in_s: int | None = None  # when out of tokens: seconds until midnight UTC


# One statement, on the database's clock (the one ``requested_at`` was written with).
_STATE = text(
    """
    WITH recent AS (
        SELECT requested_at FROM suggestions
        WHERE requested_at > now() - interval '1 minute' AND reason IS DISTINCT FROM :limited
    )
    SELECT
        (SELECT count(*) FROM recent) AS recent,
        (SELECT extract(epoch FROM requested_at + interval '1 minute' - now())
           FROM recent ORDER BY requested_at DESC OFFSET :nth LIMIT 1) AS frees_in,
        (SELECT coalesce(sum(tokens), 0) FROM suggestions
          WHERE requested_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS tokens,
        extract(epoch FROM date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                + interval '1 day' - now()) AS midnight_in
    """
)


async def budget_state(session: AsyncSession, defaults: Budget, *, model: bool) -> BudgetState:
    """This tenant's standing against its limits (defaults with the operator's overrides)."""
    budget = defaults.for_tenant(await read_limits(session))
    row = (
        await session.execute(_STATE, {"limited": LIMITED, "nth": max(budget.requests_per_minute - 1, 0)})
    ).one()
    if int(row.recent) >= budget.requests_per_minute:
        return BudgetState(limited=True, retry_after_s=max(1, math.ceil(float(row.frees_in or 1))))
    if model and int(row.tokens) >= budget.tokens_per_day:
        return BudgetState(tokens_exhausted=True, tokens_back_in_s=max(1, math.ceil(float(row.midnight_in))))
    return BudgetState()
