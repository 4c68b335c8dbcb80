"""Conversations: the list (keyset-paginated, filtered, searched), one conversation, marking it read,
and changing its state (open, pending, resolved, snoozed until) or assignee.

Every change is written with its audit entry in one transaction and announced to live inboxes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.models import Principal
from inbox_api.conversations.models import ConversationQuery
from inbox_api.conversations.queries import conversation_select, encode_cursor, list_query, unseen
from inbox_api.conversations.rules import WorkflowError, effective_state, plan_state
from inbox_api.deps import InboxDeps
from inbox_api.errors import NotFound
from inbox_api.live.service import announce
from omni_common.db.tenant_models import INBOX_ROLES, Chat, ChatLabel, ChatRead, Label, User
from omni_common.domain import reply_window
from omni_common.domain.channels import channel_name
from omni_common.domain.people import customer_handle, customer_name, name_from_email, person_name
from omni_common.tenancy.audit import record

log = structlog.get_logger(__name__)


def conversation_view(
    chat: Chat,
    name: str | None,
    handle: str | None,
    ext: str,
    account: str | None,
    assignee_name: str | None = None,
    my_unread: int | None = None,
    human_agent: bool = False,
    *,
    now: datetime,
) -> dict[str, Any]:
    """A conversation as the API and the pages show it (``now``: for the reply window and snoozes)."""
    win = reply_window.window(chat.channel, chat.last_inbound_at, now, human_agent=bool(human_agent))
    closes_at = win.closes_at
    state = effective_state(chat.state, chat.snoozed_until, now)
    return {
        "id": str(chat.id),
        "channel": chat.channel,
        "channel_label": channel_name(chat.channel),
        # Never a 15-digit platform id: the name, else the handle, else "Instagram customer …1234".
        "contact_name": customer_name(chat.channel, name, handle, ext),
        "contact_handle": customer_handle(chat.channel, handle, ext),
        "account_name": account,
        "last_message_at": chat.last_message_at.isoformat() if chat.last_message_at else None,
        "last_message_preview": chat.last_message_preview,
        "unread_count": chat.unread_count,
        "account_id": str(chat.social_account_id),
        # One rule with the sender (omni_common.domain.reply_window): free-form messages allowed now,
        # until when (7 days with the human-agent tag), the tag they need, WhatsApp templates.
        "reply_window_open": win.free_form,
        "reply_window_closes_at": closes_at.isoformat() if closes_at else None,
        "reply_window_tag": win.tag,
        "human_agent": bool(human_agent),
        "templates_allowed": win.templates,
        "state": state,
        "snoozed_until": chat.snoozed_until.isoformat()
        if state == "snoozed" and chat.snoozed_until
        else None,
        "assignee_user_id": str(chat.assignee_user_id) if chat.assignee_user_id else None,
        "assignee_name": name_from_email(assignee_name)
        if assignee_name and "@" in assignee_name
        else assignee_name,
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


async def list_conversations(
    session: AsyncSession, q: ConversationQuery, now: datetime | None = None
) -> dict[str, Any]:
    """A page of conversations, newest activity first, with the cursor of the next page."""
    now = now or datetime.now(UTC)
    rows = (await session.execute(list_query(q, now))).all()
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    items = [conversation_view(*row, now=now) for row in rows]
    await attach_labels(session, items)
    next_cursor = encode_cursor(rows[-1][0].last_message_at, rows[-1][0].id) if more and rows else None
    return {"items": items, "next_cursor": next_cursor}


async def get_conversation(
    session: AsyncSession, chat_id: uuid.UUID, viewer: uuid.UUID | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """One conversation; NotFound when this tenant has no such chat."""
    row = (await session.execute(conversation_select(viewer).where(Chat.id == chat_id))).first()
    if not row:
        raise NotFound("no such conversation")
    view = conversation_view(*row, now=now or datetime.now(UTC))
    await attach_labels(session, [view])
    return view


async def mark_read(session: AsyncSession, chat_id: uuid.UUID, user_id: uuid.UUID | None = None) -> None:
    """Set a conversation's unread count to zero (and ``user_id``'s read marker); NotFound: no such chat."""
    result = await session.execute(
        update(Chat).where(Chat.id == chat_id).values(unread_count=0).returning(Chat.id)
    )
    if result.first() is None:
        raise NotFound("no such conversation")
    if user_id is not None:
        # Only this user's marker moves: other users' unread counts are theirs.
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
        await session.scalar(select(func.count()).select_from(Chat).where(exists().where(unseen(viewer))))
        or 0
    )


def user_view(u: User) -> dict[str, Any]:
    # display_name: the name they go by (set, else made from the email): pickers never show an email.
    return {
        "id": str(u.id),
        "email": u.email,
        "display_name": person_name(u.display_name, u.email),
        "role": u.role,
    }


async def assignable_users(session: AsyncSession) -> list[dict[str, Any]]:
    """Active owners and managers of the tenant: the people a conversation can be assigned to."""
    rows = (
        await session.execute(
            select(User)
            .where(User.is_active.is_(True), User.role.in_(INBOX_ROLES))
            .order_by(User.display_name.nulls_last(), User.email)
        )
    ).scalars()
    return [user_view(u) for u in rows]


async def _check_assignee(session: AsyncSession, user_id: uuid.UUID) -> None:
    user = await session.get(User, user_id)
    if user is None or not user.is_active or user.role not in INBOX_ROLES:
        raise WorkflowError("the assignee must be an active owner or manager of this restaurant")


async def update_conversation(
    session: AsyncSession,
    user: Principal,
    chat_id: uuid.UUID,
    changes: dict[str, Any],
    now: datetime | None = None,
) -> dict[str, Any]:
    """Apply state/snooze/assignee ``changes`` (keys present = fields to set); NotFound: no such chat.

    Returns what changed (for the live event); the audit entries are written in this transaction.
    """
    now = now or datetime.now(UTC)
    # Row lock: two people resolving/assigning at once see each other's result, not a lost update.
    chat = (
        await session.execute(select(Chat).where(Chat.id == chat_id).with_for_update())
    ).scalar_one_or_none()
    if chat is None:
        raise NotFound("no such conversation")
    changed: dict[str, Any] = {}
    if "state" in changes or "snoozed_until" in changes:
        before = effective_state(chat.state, chat.snoozed_until, now)
        plan = plan_state(
            chat.state, chat.snoozed_until, changes.get("state"), changes.get("snoozed_until"), now
        )
        before_until = chat.snoozed_until if before == "snoozed" else None
        # Written even when nothing visible changes: an expired snooze is tidied to a plain 'open'.
        chat.state, chat.snoozed_until = plan.state, plan.snoozed_until
        if (plan.state, plan.snoozed_until) != (before, before_until):
            until = plan.snoozed_until.isoformat() if plan.snoozed_until else None
            changed.update(state=plan.state, snoozed_until=until)
            details = {"from": before, "to": plan.state, "snoozed_until": until}
            await _audit(session, user, "conversation.state_changed", chat_id, details)
    if "assignee_user_id" in changes:
        new = changes["assignee_user_id"]
        if new is not None:
            await _check_assignee(session, new)
        if new != chat.assignee_user_id:
            old = chat.assignee_user_id
            chat.assignee_user_id = new
            changed["assignee_user_id"] = str(new) if new else None
            action = "conversation.unassigned" if new is None else "conversation.assigned"
            details = {"from": str(old) if old else None, "to": str(new) if new else None}
            await _audit(session, user, action, chat_id, details)
    if changed:
        chat.updated_at = now
        await session.flush()
    return changed


async def _audit(
    session: AsyncSession, user: Principal, action: str, chat_id: uuid.UUID, details: dict[str, Any]
) -> None:
    await record(
        session, user.actor(), action, target_type="conversation", target_id=chat_id, details=details
    )


async def change_conversation(
    deps: InboxDeps, user: Principal, chat_id: uuid.UUID, changes: dict[str, Any]
) -> dict[str, Any]:
    """Commit the change, then announce it; NotFound when the tenant has no such conversation."""
    async with deps.registry.begin(user.tenant_id) as session:
        changed = await update_conversation(session, user, chat_id, changes)
    if changed:
        log.info("conversation_updated", chat_id=str(chat_id), fields=sorted(changed))
        await announce(deps, user.tenant_id, "conversation.updated", chat_id, changed, by=user.user_id)
    return changed
