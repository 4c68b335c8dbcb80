"""How well the AI helps one restaurant: suggestions asked, used, edited, discarded, and what the model cost.

For the AI settings page (the inbox calls ``assistant_stats`` with the tenant's session).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from omni_common.contracts.assistant import ACTIONS

# An unused draft younger than this may still be in someone's composer: not yet "discarded".
PENDING_FOR = timedelta(hours=1)


@dataclass(frozen=True)
class Prices:
    """Model prices in US dollars per 1,000 tokens; the defaults are gpt-4o-mini's list prices."""

    input_per_1k: float = 0.00015
    output_per_1k: float = 0.0006


@dataclass(frozen=True)
class AssistantStats:
    """The last ``days`` of one tenant's suggestions, counted."""

    days: int
    asked: int  # every request, including refused ones
    asked_by_action: dict[str, int] = field(default_factory=dict)
    drafted: int = 0  # requests that produced a draft
    used_as_is: int = 0  # sent without a change
    used_edited: int = 0  # sent after editing
    discarded: int = 0  # never sent: replaced by another draft or reply, or left for an hour
    pending: int = 0  # drafted in the last hour, not sent (yet)
    limited: int = 0  # refused by the per-minute limit
    fell_back: int = 0  # the built-in suggester stepped in for the model (with a note)
    model_tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_estimate_usd: float = 0.0


_STATS = text(
    """
    SELECT s.action,
           count(*) AS asked,
           count(*) FILTER (WHERE s.text IS NOT NULL) AS drafted,
           count(*) FILTER (WHERE s.outcome = 'sent_as_is') AS as_is,
           count(*) FILTER (WHERE s.outcome = 'edited') AS edited,
           count(*) FILTER (
               WHERE s.text IS NOT NULL AND s.outcome IS NULL AND (
                   s.requested_at < :pending_since
                   OR EXISTS (SELECT 1 FROM suggestions later
                              WHERE later.chat_id = s.chat_id AND later.requested_at > s.requested_at
                                AND later.text IS NOT NULL)
                   OR EXISTS (SELECT 1 FROM chat_messages m
                              WHERE m.chat_id = s.chat_id AND m.direction = 'outbound'
                                AND m.created_at > s.requested_at)
               )
           ) AS discarded,
           count(*) FILTER (WHERE s.reason = 'limited') AS limited,
           count(*) FILTER (WHERE s.source = 'local' AND s.note IS NOT NULL AND s.text IS NOT NULL)
               AS fell_back,
           coalesce(sum(s.tokens), 0) AS tokens,
           coalesce(sum(s.prompt_tokens), 0) AS prompt,
           coalesce(sum(s.completion_tokens), 0) AS completion,
           -- rows from before prompt/completion were recorded count their tokens as prompt tokens
           coalesce(sum(greatest(s.tokens - s.prompt_tokens - s.completion_tokens, 0)), 0) AS unsplit
    FROM suggestions s
    WHERE s.requested_at >= :since
    GROUP BY s.action
    """
)


async def assistant_stats(
    session: AsyncSession, *, days: int = 30, prices: Prices | None = None, now: datetime | None = None
) -> AssistantStats:
    """Counts of the tenant's suggestions in the last ``days`` days, and the model's cost estimate."""
    prices = prices or Prices()
    now = now or datetime.now(UTC)
    rows = (
        await session.execute(
            _STATS, {"since": now - timedelta(days=days), "pending_since": now - PENDING_FOR}
        )
    ).all()
    by_action: dict[str, int] = dict.fromkeys(ACTIONS, 0)
    totals: dict[str, int] = {}
    for row in rows:
        by_action[row.action] = int(row.asked)
        for key in ("asked", "drafted", "as_is", "edited", "discarded", "limited", "fell_back"):
            totals[key] = totals.get(key, 0) + int(getattr(row, key))
        for key in ("tokens", "prompt", "completion", "unsplit"):
            totals[key] = totals.get(key, 0) + int(getattr(row, key))
    used = totals.get("as_is", 0) + totals.get("edited", 0)
    prompt = totals.get("prompt", 0) + totals.get("unsplit", 0)
    completion = totals.get("completion", 0)
    cost = (prompt * prices.input_per_1k + completion * prices.output_per_1k) / 1000
    return AssistantStats(
        days=days,
        asked=totals.get("asked", 0),
        asked_by_action=by_action,
        drafted=totals.get("drafted", 0),
        used_as_is=totals.get("as_is", 0),
        used_edited=totals.get("edited", 0),
        discarded=totals.get("discarded", 0),
        pending=totals.get("drafted", 0) - used - totals.get("discarded", 0),
        limited=totals.get("limited", 0),
        fell_back=totals.get("fell_back", 0),
        model_tokens=totals.get("tokens", 0),
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_estimate_usd=round(cost, 6),
    )
