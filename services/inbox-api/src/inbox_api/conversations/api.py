"""JSON routes of conversations: the list, one conversation, read, state/assignee, assignable users."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from inbox_api.auth.dependencies import CurrentUser, Deps, TenantSession, TenantTransaction
from inbox_api.conversations.models import ConversationPatch, ConversationQuery, QueueFilters
from inbox_api.conversations.service import (
    assignable_users,
    change_conversation,
    get_conversation,
    list_conversations,
    mark_read,
)
from inbox_api.errors import Invalid
from omni_common.domain.channels import is_channel

MAX_PAGE = 200
router = APIRouter(prefix="/api/conversations", tags=["conversations"])
# The team inbox's routes (state and assignment) keep their own tag in the OpenAPI document.
queue_router = APIRouter(tags=["queue"])


@router.get("")
async def conversations(
    user: CurrentUser,
    session: TenantSession,
    channel: Annotated[str | None, Query(description="whatsapp, facebook or instagram")] = None,
    q: Annotated[str | None, Query(max_length=200, description="search contact or message text")] = None,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    state: Annotated[str | None, Query(description="open, pending, resolved, snoozed or all")] = None,
    assignee: Annotated[str | None, Query(description="me, unassigned, all or a user id")] = None,
    label: Annotated[uuid.UUID | None, Query(description="a label id")] = None,
) -> dict[str, Any]:
    """Conversations of every channel, newest activity first (``next_cursor`` pages on).

    ``my_unread_count`` is the caller's own unread count; ``unread_count`` the tenant-wide one."""
    if channel is not None and not is_channel(channel):
        raise Invalid(f"unknown channel {channel!r}")
    filters = QueueFilters(state=state, assignee=assignee, label=label).check()
    query = ConversationQuery(
        channel=channel, search=q or None, cursor=cursor, limit=limit, filters=filters, viewer=user.user_id
    )
    return await list_conversations(session, query)


@router.get("/{chat_id}")
async def conversation(chat_id: uuid.UUID, user: CurrentUser, session: TenantSession) -> dict[str, Any]:
    """One conversation of this tenant."""
    return await get_conversation(session, chat_id, viewer=user.user_id)


@router.post("/{chat_id}/read", status_code=204)
async def read(chat_id: uuid.UUID, user: CurrentUser, session: TenantTransaction) -> None:
    """Mark a conversation read (for the caller: other users' unread counts are theirs)."""
    await mark_read(session, chat_id, user.user_id)


@queue_router.patch("/api/conversations/{chat_id}", responses={404: {}, 422: {}})
async def patch_conversation(
    chat_id: uuid.UUID, body: ConversationPatch, user: CurrentUser, deps: Deps
) -> dict[str, Any]:
    """Change a conversation's ``state`` (open, pending, resolved, snoozed), ``snoozed_until``
    (ISO time with zone; implies ``snoozed``) or ``assignee_user_id`` (an owner or manager; null
    unassigns). Each change is recorded in the audit trail. Answers the updated conversation."""
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    if not changes:
        raise Invalid("nothing to change: send state, snoozed_until or assignee_user_id")
    await change_conversation(deps, user, chat_id, changes)
    async with deps.registry.session(user.tenant_id) as session:
        return await get_conversation(session, chat_id, viewer=user.user_id)


@queue_router.get("/api/users")
async def users(session: TenantSession) -> list[dict[str, Any]]:
    """People a conversation can be assigned to: the tenant's active owners and managers."""
    return await assignable_users(session)
