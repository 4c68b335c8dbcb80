"""The tenant's quick replies; every change is audited in its transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.models import Principal
from inbox_api.errors import Conflict
from inbox_api.quick_replies.models import QuickReplyIn, QuickReplyPatch
from inbox_api.rows import add_unique, get_or_404
from omni_common.db.tenant_models import QuickReply
from omni_common.tenancy.audit import record

NO_SUCH = "no such quick reply"


class ShortcutTaken(Conflict):
    """Another quick reply of the tenant uses this shortcut."""


def quick_reply_view(q: QuickReply) -> dict[str, Any]:
    return {
        "id": str(q.id),
        "shortcut": q.shortcut,
        "body": q.body,
        "updated_at": q.updated_at.isoformat() if q.updated_at else None,
    }


async def list_quick_replies(session: AsyncSession) -> list[dict[str, Any]]:
    rows = (await session.execute(select(QuickReply).order_by(QuickReply.shortcut))).scalars()
    return [quick_reply_view(q) for q in rows]


async def _save(session: AsyncSession, q: QuickReply) -> None:
    await add_unique(session, q, ShortcutTaken(f"the shortcut /{q.shortcut} is already used"))
    await session.refresh(q)


def _audit_details(q: QuickReply) -> dict[str, Any]:
    return {"shortcut": q.shortcut, "body": q.body[:200]}


async def _audit(
    session: AsyncSession, user: Principal, action: str, qr_id: uuid.UUID, details: dict[str, Any]
) -> None:
    await record(session, user.actor(), action, target_type="quick_reply", target_id=qr_id, details=details)


async def create_quick_reply(session: AsyncSession, user: Principal, body: QuickReplyIn) -> dict[str, Any]:
    q = QuickReply(shortcut=body.shortcut, body=body.body, updated_by=user.user_id)
    await _save(session, q)
    await _audit(session, user, "quick_reply.created", q.id, _audit_details(q))
    return quick_reply_view(q)


async def update_quick_reply(
    session: AsyncSession, user: Principal, qr_id: uuid.UUID, body: QuickReplyPatch
) -> dict[str, Any]:
    """Change the shortcut or the text; NotFound when the tenant has no such quick reply."""
    q = await get_or_404(session, QuickReply, qr_id, NO_SUCH)
    before = _audit_details(q)
    if body.shortcut is not None:
        q.shortcut = body.shortcut
    if body.body is not None:
        q.body = body.body
    q.updated_by = user.user_id
    await _save(session, q)
    if _audit_details(q) != before:
        await _audit(session, user, "quick_reply.updated", qr_id, {"from": before, "to": _audit_details(q)})
    return quick_reply_view(q)


async def delete_quick_reply(session: AsyncSession, user: Principal, qr_id: uuid.UUID) -> None:
    """Delete a quick reply; NotFound when there is none."""
    q = await get_or_404(session, QuickReply, qr_id, NO_SUCH)
    await _audit(session, user, "quick_reply.deleted", qr_id, _audit_details(q))
    await session.delete(q)
