"""How the queue reads: effective state, the mine/unassigned/state/label filters, per-user unread.

Per-user unread compares inbound messages' insertion time with the user's ``chat_reads`` marker
(``chats.unread_count`` stays the tenant-wide counter the normalizer keeps).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, literal, literal_column, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from omni_common.db.tenant_models import CHAT_STATES, Chat, ChatLabel, ChatMessage, ChatRead, Label, User

STATE_LABELS = {"open": "Open", "pending": "Pending", "resolved": "Resolved", "snoozed": "Snoozed"}
ASSIGNEE_FILTERS = ("me", "unassigned", "all")
STATE_FILTERS = (*CHAT_STATES, "all")
NEVER = literal_column("'-infinity'::timestamptz")  # a user who never opened a chat


class BadFilter(ValueError):
    """A filter value the list does not understand (a 422)."""


def effective_state(state: str, snoozed_until: datetime | None, now: datetime) -> str:
    """What a conversation is right now: a snooze that has run out reads as open (no job wakes it)."""
    if state == "snoozed" and (snoozed_until is None or snoozed_until <= now):
        return "open"
    return state


def effective_state_sql(now: datetime) -> Any:
    """``effective_state`` in SQL, for filtering."""
    return case(
        (and_(Chat.state == "snoozed", or_(Chat.snoozed_until.is_(None), Chat.snoozed_until <= now)), "open"),
        else_=Chat.state,
    )


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


def apply_filters(stmt: Select[Any], f: QueueFilters, viewer: uuid.UUID | None, now: datetime) -> Select[Any]:
    if f.state and f.state != "all":
        stmt = stmt.where(effective_state_sql(now) == f.state)
    if f.assignee == "me":
        stmt = stmt.where(Chat.assignee_user_id == viewer)
    elif f.assignee == "unassigned":
        stmt = stmt.where(Chat.assignee_user_id.is_(None))
    elif f.assignee and f.assignee != "all":
        stmt = stmt.where(Chat.assignee_user_id == uuid.UUID(f.assignee))
    if f.label is not None:
        stmt = stmt.where(exists().where(ChatLabel.chat_id == Chat.id, ChatLabel.label_id == f.label))
    return stmt


def _read_marker(viewer: uuid.UUID) -> Any:
    return (
        select(ChatRead.last_read_at)
        .where(ChatRead.chat_id == Chat.id, ChatRead.user_id == viewer)
        .correlate(Chat)  # explicit: nested two levels deep, auto-correlation would miss it
        .scalar_subquery()
    )


def _unseen(viewer: uuid.UUID) -> Any:
    """Inbound messages of the current chat this viewer has not seen (reactions do not count)."""
    return and_(
        ChatMessage.chat_id == Chat.id,
        ChatMessage.direction == "inbound",
        ChatMessage.kind != "reaction",
        ChatMessage.created_at > func.coalesce(_read_marker(viewer), NEVER),
    )


def my_unread_sql(viewer: uuid.UUID | None) -> Any:
    if viewer is None:
        return literal(None).label("my_unread")
    return select(func.count()).where(_unseen(viewer)).correlate(Chat).scalar_subquery().label("my_unread")


def with_queue_columns(stmt: Select[Any], viewer: uuid.UUID | None) -> Select[Any]:
    """Add the assignee's name and the viewer's unread count to a conversation select."""
    assignee = aliased(User)
    return stmt.add_columns(
        func.coalesce(assignee.display_name, assignee.email).label("assignee_name"), my_unread_sql(viewer)
    ).outerjoin(assignee, assignee.id == Chat.assignee_user_id)


def queue_fields(
    chat: Chat, assignee_name: str | None, my_unread: int | None, now: datetime
) -> dict[str, Any]:
    state = effective_state(chat.state, chat.snoozed_until, now)
    return {
        "state": state,
        "snoozed_until": chat.snoozed_until.isoformat()
        if state == "snoozed" and chat.snoozed_until
        else None,
        "assignee_user_id": str(chat.assignee_user_id) if chat.assignee_user_id else None,
        "assignee_name": assignee_name,
        "my_unread_count": my_unread,
        "labels": [],
    }


async def attach_labels(session: AsyncSession, items: list[dict[str, Any]]) -> None:
    """Fill each conversation's ``labels`` (one query for the whole page)."""
    if not items:
        return
    ids = [uuid.UUID(i["id"]) for i in items]
    rows = await session.execute(
        select(ChatLabel.chat_id, Label.id, Label.name, Label.color)
        .join(Label, Label.id == ChatLabel.label_id)
        .where(ChatLabel.chat_id.in_(ids))
        .order_by(func.lower(Label.name))
    )
    by_chat: dict[str, list[dict[str, str]]] = {}
    for chat_id, label_id, name, color in rows:
        by_chat.setdefault(str(chat_id), []).append({"id": str(label_id), "name": name, "color": color})
    for item in items:
        item["labels"] = by_chat.get(item["id"], [])


async def mark_read_for(session: AsyncSession, chat_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Record that ``user_id`` has seen everything in the chat up to now (only for this user)."""
    stmt = insert(ChatRead).values(chat_id=chat_id, user_id=user_id, last_read_at=func.now())
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[ChatRead.chat_id, ChatRead.user_id],
            set_={"last_read_at": func.greatest(ChatRead.last_read_at, stmt.excluded.last_read_at)},
        )
    )


async def unread_conversations(session: AsyncSession, viewer: uuid.UUID) -> int:
    """How many conversations have messages this user has not seen (the page title's badge)."""
    return int(
        await session.scalar(select(func.count()).select_from(Chat).where(exists().where(_unseen(viewer))))
        or 0
    )
