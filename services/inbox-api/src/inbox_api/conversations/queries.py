"""The SQL of the conversation list: filters, keyset pagination, and per-user unread counts.

Per-user unread compares inbound messages' insertion time with the user's ``chat_reads`` marker
(``chats.unread_count`` stays the tenant-wide counter the normalizer keeps).
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, literal, literal_column, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import ColumnClause

from inbox_api.conversations.models import BadCursor, ConversationQuery, QueueFilters
from omni_common.db.tenant_models import Chat, ChatLabel, ChatMessage, ChatRead, Contact, SocialAccount, User
from omni_common.domain.phones import search_digits

NEVER: ColumnClause[Any] = literal_column("'-infinity'::timestamptz")  # a user who never opened a chat


def encode_cursor(last_message_at: datetime | None, chat_id: uuid.UUID) -> str:
    raw = json.dumps([last_message_at.isoformat() if last_message_at else None, str(chat_id)])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime | None, uuid.UUID]:
    try:
        ts, cid = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return (datetime.fromisoformat(ts) if ts else None), uuid.UUID(cid)
    except (ValueError, TypeError) as exc:
        raise BadCursor("invalid cursor") from exc


def _after(cursor: str) -> Any:
    ts, cid = decode_cursor(cursor)
    # Order is (last_message_at DESC NULLS LAST, id DESC): rows "after" the cursor in that order.
    if ts is None:
        return and_(Chat.last_message_at.is_(None), Chat.id < cid)
    return or_(
        Chat.last_message_at < ts,
        and_(Chat.last_message_at == ts, Chat.id < cid),
        Chat.last_message_at.is_(None),
    )


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _digits_of(column: Any) -> Any:
    return func.regexp_replace(column, r"\D", "", "g")


def _phone_match(query: str) -> list[Any]:
    """A phone number matches whatever its formatting: both sides compared as digits (the stored
    handle, and a WhatsApp contact's wa_id, which is the number)."""
    digits = search_digits(query)
    if digits is None:
        return []
    pattern = f"%{digits}%"
    return [
        _digits_of(Contact.handle).like(pattern),
        and_(Contact.channel == "whatsapp", Contact.external_id.like(pattern)),
    ]


def effective_state_sql(now: datetime) -> Any:
    """``rules.effective_state`` in SQL, for filtering."""
    return case(
        (and_(Chat.state == "snoozed", or_(Chat.snoozed_until.is_(None), Chat.snoozed_until <= now)), "open"),
        else_=Chat.state,
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


def unseen(viewer: uuid.UUID) -> Any:
    """Inbound messages of the current chat this viewer has not seen (reactions do not count)."""
    return and_(
        ChatMessage.chat_id == Chat.id,
        ChatMessage.direction == "inbound",
        ChatMessage.kind != "reaction",
        ChatMessage.created_at > func.coalesce(_read_marker(viewer), NEVER),
    )


def _my_unread(viewer: uuid.UUID | None) -> Any:
    if viewer is None:
        return literal(None).label("my_unread")
    return select(func.count()).where(unseen(viewer)).correlate(Chat).scalar_subquery().label("my_unread")


def conversation_select(viewer: uuid.UUID | None) -> Select[Any]:
    """Chat, contact, account, the assignee's name and the viewer's unread count, in one row."""
    assignee = aliased(User)
    return (
        select(Chat, Contact.display_name, Contact.handle, Contact.external_id, SocialAccount.display_name)
        .join(Contact, Contact.id == Chat.contact_id)
        .join(SocialAccount, SocialAccount.id == Chat.social_account_id)
        .add_columns(
            func.coalesce(assignee.display_name, assignee.email).label("assignee_name"),
            _my_unread(viewer),
            SocialAccount.human_agent_enabled,  # the window rules of Messenger/Instagram
        )
        .outerjoin(assignee, assignee.id == Chat.assignee_user_id)
    )


def list_query(q: ConversationQuery, now: datetime) -> Select[Any]:
    """A page of the list (one row more than asked: whether there is a next page)."""
    stmt = apply_filters(conversation_select(q.viewer), q.filters, q.viewer, now)
    if q.channel:
        stmt = stmt.where(Chat.channel == q.channel)
    if q.search:
        pattern = _like(q.search.strip())
        text_match = exists().where(ChatMessage.chat_id == Chat.id, ChatMessage.text.ilike(pattern))
        found = [Contact.display_name.ilike(pattern), Contact.handle.ilike(pattern), text_match]
        stmt = stmt.where(or_(*found, *_phone_match(q.search)))
    if q.cursor:
        stmt = stmt.where(_after(q.cursor))
    return stmt.order_by(Chat.last_message_at.desc().nulls_last(), Chat.id.desc()).limit(q.limit + 1)
