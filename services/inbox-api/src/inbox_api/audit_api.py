"""The audit trail for owners: who did what, newest first (read-only; the table is append-only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth import CurrentUser, Deps, Principal
from inbox_api.workflow import actor_of
from omni_common.contracts.assistant import AssistantDocument
from omni_common.db.tenant_models import AuditEntry
from omni_common.tenancy.assistant import read_document, write_document
from omni_common.tenancy.audit import record

OWNER_ROLE = "business_owner"
MAX_PAGE = 200


def may_read_audit(user: Principal) -> bool:
    """Only the owner reads the trail: managers' own actions are in it."""
    return user.role == OWNER_ROLE


def entry_view(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at.isoformat(),
        "actor_user_id": str(e.actor_user_id) if e.actor_user_id else None,
        "actor_email": e.actor_email,
        "action": e.action,
        "target_type": e.target_type,
        "target_id": e.target_id,
        "details": e.details,
    }


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_audit(
    session: AsyncSession,
    *,
    action: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """A page of entries, newest first; ``action`` matches a prefix ("conversation." or an exact name)."""
    stmt = select(AuditEntry)
    if action:
        stmt = stmt.where(AuditEntry.action.like(_escape_like(action) + "%"))
    if target_id:
        stmt = stmt.where(AuditEntry.target_id == target_id)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    rows = list((await session.execute(stmt.order_by(AuditEntry.id.desc()).limit(limit + 1))).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [entry_view(e) for e in rows], "next_before": rows[-1].id if more and rows else None}


router = APIRouter(tags=["audit"])


@router.get("/api/audit", responses={403: {}})
async def audit(
    user: CurrentUser,
    deps: Deps,
    action: Annotated[str | None, Query(max_length=80, description="action or prefix")] = None,
    target_id: Annotated[str | None, Query(max_length=80)] = None,
    since: Annotated[datetime | None, Query(description="ISO time")] = None,
    before: Annotated[int | None, Query(ge=1, description="next_before of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> dict[str, Any]:
    """The tenant's audit trail, newest first (owners only; managers get 403)."""
    if not may_read_audit(user):
        raise HTTPException(403, "only the owner can read the audit trail")
    async with deps.registry.session(user.tenant_id) as session:
        return await list_audit(
            session, action=action, target_id=target_id, since=since, before_id=before, limit=limit
        )


async def record_reply(
    session: AsyncSession,
    user: Principal,
    *,
    chat_id: uuid.UUID,
    message_id: uuid.UUID,
    text: str,
    suggestion_id: uuid.UUID | None,
    suggestion_outcome: str | None,
) -> None:
    """A reply queued by a user; when it started from an AI draft, whether it was sent as is or edited."""
    actor = actor_of(user)
    details = {"message_id": str(message_id), "preview": text[:80], "length": len(text)}
    await record(session, actor, "reply.sent", target_type="conversation", target_id=chat_id, details=details)
    if suggestion_id is not None and suggestion_outcome is not None:
        action = "suggestion.used" if suggestion_outcome == "sent_as_is" else "suggestion.edited"
        await record(
            session,
            actor,
            action,
            target_type="conversation",
            target_id=chat_id,
            details={"suggestion_id": str(suggestion_id), "message_id": str(message_id)},
        )


async def write_assistant(session: AsyncSession, user: Principal, doc: AssistantDocument) -> None:
    """Save the assistant settings and record which parts changed."""
    before = await read_document(session)
    await write_document(session, doc, user.user_id)
    changed = [k for k in AssistantDocument.model_fields if getattr(before, k) != getattr(doc, k)]
    if changed:
        await record(
            session,
            actor_of(user),
            "assistant.updated",
            target_type="assistant",
            details={"changed": changed, "enabled": doc.enabled},
        )
