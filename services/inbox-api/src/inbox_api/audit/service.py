"""Reading the audit trail (entries are written by each domain, in the transaction of the change)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.models import Principal
from omni_common.db.tenant_models import AuditEntry

OWNER_ROLE = "business_owner"
# The audit page's filter: (action prefix, words).
AUDIT_GROUPS = (
    ("", "Everything"),
    ("reply.", "Replies sent"),
    ("suggestion.", "AI suggestions used"),
    ("conversation.", "Conversations (state, assignment, labels)"),
    ("note.", "Notes"),
    ("quick_reply.", "Quick replies"),
    ("label.", "Labels"),
    ("assistant.", "AI settings"),
    ("account.", "Accounts"),
)


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
