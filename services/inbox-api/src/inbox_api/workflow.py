"""Working the queue: a conversation's state (open, pending, resolved, snoozed until) and assignee.

Every change is written with its audit entry in one transaction and announced to live inboxes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth import CurrentUser, Deps, Principal
from inbox_api.conversations import get_conversation
from inbox_api.deps import InboxDeps
from inbox_api.queue_view import effective_state
from omni_common.contracts import NotificationEvent
from omni_common.db.tenant_models import CHAT_STATES, INBOX_ROLES, Chat, User
from omni_common.tenancy.audit import Actor, record

log = structlog.get_logger(__name__)
# Longer snoozes are almost always a typo (a year instead of a day); resolve instead.
MAX_SNOOZE = timedelta(days=90)


class WorkflowError(ValueError):
    """A change that cannot be made (shown to the user as a 422)."""


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


class ConversationPatch(BaseModel):
    """Fields to change; ``assignee_user_id: null`` unassigns, an absent field is left alone."""

    state: str | None = None
    snoozed_until: datetime | None = None
    assignee_user_id: uuid.UUID | None = None


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


def user_view(u: User) -> dict[str, Any]:
    return {"id": str(u.id), "email": u.email, "display_name": u.display_name, "role": u.role}


async def _check_assignee(session: AsyncSession, user_id: uuid.UUID) -> None:
    user = await session.get(User, user_id)
    if user is None or not user.is_active or user.role not in INBOX_ROLES:
        raise WorkflowError("the assignee must be an active owner or manager of this restaurant")


def actor_of(user: Principal) -> Actor:
    return Actor(user.user_id, user.email)


async def update_conversation(
    session: AsyncSession,
    user: Principal,
    chat_id: uuid.UUID,
    changes: dict[str, Any],
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """Apply state/snooze/assignee ``changes`` (keys present = fields to set); None: no such chat.

    Returns what changed (for the live event); the audit entries are written in this transaction.
    """
    now = now or datetime.now(UTC)
    # Row lock: two people resolving/assigning at once see each other's result, not a lost update.
    chat = (
        await session.execute(select(Chat).where(Chat.id == chat_id).with_for_update())
    ).scalar_one_or_none()
    if chat is None:
        return None
    actor = actor_of(user)
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
            await record(
                session,
                actor,
                "conversation.state_changed",
                target_type="conversation",
                target_id=chat_id,
                details={"from": before, "to": plan.state, "snoozed_until": until},
            )
    if "assignee_user_id" in changes:
        new = changes["assignee_user_id"]
        if new is not None:
            await _check_assignee(session, new)
        if new != chat.assignee_user_id:
            old = chat.assignee_user_id
            chat.assignee_user_id = new
            changed["assignee_user_id"] = str(new) if new else None
            action = "conversation.unassigned" if new is None else "conversation.assigned"
            await record(
                session,
                actor,
                action,
                target_type="conversation",
                target_id=chat_id,
                details={"from": str(old) if old else None, "to": str(new) if new else None},
            )
    if changed:
        chat.updated_at = now
        await session.flush()
    return changed


async def announce(
    deps: InboxDeps, user: Principal, kind: str, chat_id: uuid.UUID | None, data: dict[str, Any]
) -> None:
    """Tell every live inbox of this tenant (every replica) that something changed."""
    await deps.hub.announce(
        NotificationEvent(
            tenant_id=user.tenant_id,
            kind=kind,  # type: ignore[arg-type]
            chat_id=chat_id,
            data=data | {"by": str(user.user_id)},
            occurred_at=datetime.now(UTC),
        )
    )


async def change_conversation(
    deps: InboxDeps, user: Principal, chat_id: uuid.UUID, changes: dict[str, Any]
) -> dict[str, Any] | None:
    """Commit the change, then announce it; None when the tenant has no such conversation."""
    async with deps.registry.begin(user.tenant_id) as session:
        changed = await update_conversation(session, user, chat_id, changes)
    if changed is None:
        return None
    if changed:
        log.info("conversation_updated", chat_id=str(chat_id), fields=sorted(changed))
        await announce(deps, user, "conversation.updated", chat_id, changed)
    return changed


router = APIRouter(tags=["queue"])


@router.patch("/api/conversations/{chat_id}", responses={404: {}, 422: {}})
async def patch_conversation(
    chat_id: uuid.UUID, body: ConversationPatch, user: CurrentUser, deps: Deps
) -> dict[str, Any]:
    """Change a conversation's ``state`` (open, pending, resolved, snoozed), ``snoozed_until``
    (ISO time with zone; implies ``snoozed``) or ``assignee_user_id`` (an owner or manager; null
    unassigns). Each change is recorded in the audit trail. Answers the updated conversation."""
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    if not changes:
        raise HTTPException(422, "nothing to change: send state, snoozed_until or assignee_user_id")
    try:
        changed = await change_conversation(deps, user, chat_id, changes)
    except WorkflowError as exc:
        raise HTTPException(422, str(exc)) from exc
    if changed is None:
        raise HTTPException(404, "no such conversation")
    async with deps.registry.session(user.tenant_id) as session:
        view = await get_conversation(session, chat_id, viewer=user.user_id)
    assert view is not None
    return view


@router.get("/api/users")
async def users(user: CurrentUser, deps: Deps) -> list[dict[str, Any]]:
    """People a conversation can be assigned to: the tenant's active owners and managers."""
    async with deps.registry.session(user.tenant_id) as session:
        return await assignable_users(session)
