"""Requests about conversations: the list's query and filters, and a change of state or assignee."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel

from inbox_api.errors import Invalid
from omni_common.db.tenant_models import CHAT_STATES

STATE_LABELS = {"open": "Open", "pending": "Pending", "resolved": "Resolved", "snoozed": "Snoozed"}
ASSIGNEE_FILTERS = ("me", "unassigned", "all")
STATE_FILTERS = (*CHAT_STATES, "all")
# The snooze menu of a conversation's tools: (minutes, words).
SNOOZE_CHOICES = ((60, "1 hour"), (180, "3 hours"), (1440, "1 day"), (10080, "1 week"))


class BadFilter(Invalid):
    """A filter value the list does not understand."""


class BadCursor(Invalid):
    """A pagination cursor that this server did not make."""


@dataclass(frozen=True)
class QueueFilters:
    """``state``: a state or all; ``assignee``: me, unassigned, all or a user id; ``label``: a label id."""

    state: str | None = None
    assignee: str | None = None
    label: uuid.UUID | None = None

    def check(self) -> QueueFilters:
        if self.state is not None and self.state not in STATE_FILTERS:
            raise BadFilter(f"state must be one of {', '.join(STATE_FILTERS)}")
        if self.assignee is not None and self.assignee not in ASSIGNEE_FILTERS:
            try:
                uuid.UUID(self.assignee)
            except ValueError as exc:
                raise BadFilter("assignee must be me, unassigned, all or a user id") from exc
        return self


def page_filters(
    state: str | None = None, assignee: str | None = None, label: str | None = None
) -> QueueFilters:
    """The list's filters from a page's query string: anything unknown falls back to the default
    view (open conversations, everyone's), so a stale link never shows an error page."""
    try:
        label_id = uuid.UUID(label) if label else None
    except ValueError:
        label_id = None
    return QueueFilters(
        state=state if state in STATE_FILTERS else "open",
        assignee=assignee if assignee in ASSIGNEE_FILTERS else "all",
        label=label_id,
    )


@dataclass(frozen=True)
class ConversationQuery:
    channel: str | None = None
    search: str | None = None
    cursor: str | None = None
    limit: int = 50
    filters: QueueFilters = field(default_factory=QueueFilters)
    viewer: uuid.UUID | None = None  # whose "mine" and per-user unread


class ConversationPatch(BaseModel):
    """Fields to change; ``assignee_user_id: null`` unassigns, an absent field is left alone."""

    state: str | None = None
    snoozed_until: datetime | None = None
    assignee_user_id: uuid.UUID | None = None
