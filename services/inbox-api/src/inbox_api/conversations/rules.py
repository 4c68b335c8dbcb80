"""A conversation's state over time: what it reads as now, and what a requested change makes of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from inbox_api.errors import Invalid
from omni_common.db.tenant_models import CHAT_STATES

# Longer snoozes are almost always a typo (a year instead of a day); resolve instead.
MAX_SNOOZE = timedelta(days=90)


class WorkflowError(Invalid):
    """A change of state, snooze or assignee that cannot be made."""


def effective_state(state: str, snoozed_until: datetime | None, now: datetime) -> str:
    """What a conversation is right now: a snooze that has run out reads as open (no job wakes it)."""
    if state == "snoozed" and (snoozed_until is None or snoozed_until <= now):
        return "open"
    return state


@dataclass(frozen=True)
class StatePlan:
    state: str
    snoozed_until: datetime | None


def plan_state(
    current: str, current_until: datetime | None, state: str | None, until: datetime | None, now: datetime
) -> StatePlan:
    """The state and snooze time after a request; WorkflowError when the request makes no sense."""
    if until is not None and until.tzinfo is None:
        raise WorkflowError("snoozed_until needs a time zone (e.g. 2026-12-01T09:00:00Z)")
    target = state if state is not None else ("snoozed" if until is not None else current)
    if target not in CHAT_STATES:
        raise WorkflowError(f"state must be one of {', '.join(CHAT_STATES)}")
    if target != "snoozed":
        if until is not None:
            raise WorkflowError("snoozed_until only goes with state 'snoozed'")
        return StatePlan(target, None)
    until = until if until is not None else (current_until if current == "snoozed" else None)
    if until is None:
        raise WorkflowError("snoozing needs snoozed_until")
    if until <= now:
        raise WorkflowError("snoozed_until must be in the future")
    if until - now > MAX_SNOOZE:
        raise WorkflowError("a conversation can be snoozed for 90 days at most")
    return StatePlan("snoozed", until)
