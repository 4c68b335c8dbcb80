"""Quick replies: saved answers per tenant (a short code and a text), inserted by typing ``/``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, BeforeValidator, StringConstraints
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth import CurrentUser, Deps, Principal
from inbox_api.workflow import actor_of
from omni_common.db.tenant_models import QuickReply
from omni_common.tenancy.audit import record

# Same rule as the table's CHECK, so a bad shortcut is a clear 422 rather than a database error.
Shortcut = Annotated[
    str,
    BeforeValidator(lambda v: v.strip().lower().removeprefix("/") if isinstance(v, str) else v),
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$"),
]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4096)]


class ShortcutTaken(ValueError):
    """Another quick reply of the tenant uses this shortcut."""


class QuickReplyIn(BaseModel):
    shortcut: Shortcut
    body: Body


class QuickReplyPatch(BaseModel):
    shortcut: Shortcut | None = None
    body: Body | None = None


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
    shortcut = q.shortcut  # read now: a failed savepoint expires the object
    try:
        async with session.begin_nested():
            session.add(q)
            await session.flush()
    except IntegrityError as exc:
        raise ShortcutTaken(f"the shortcut /{shortcut} is already used") from exc
    await session.refresh(q)


def _audit_details(q: QuickReply) -> dict[str, Any]:
    return {"shortcut": q.shortcut, "body": q.body[:200]}


async def create_quick_reply(session: AsyncSession, user: Principal, body: QuickReplyIn) -> dict[str, Any]:
    q = QuickReply(shortcut=body.shortcut, body=body.body, updated_by=user.user_id)
    await _save(session, q)
    await record(
        session,
        actor_of(user),
        "quick_reply.created",
        target_type="quick_reply",
        target_id=q.id,
        details=_audit_details(q),
    )
    return quick_reply_view(q)


async def update_quick_reply(
    session: AsyncSession, user: Principal, qr_id: uuid.UUID, body: QuickReplyPatch
) -> dict[str, Any] | None:
    q = await session.get(QuickReply, qr_id)
    if q is None:
        return None
    before = _audit_details(q)
    if body.shortcut is not None:
        q.shortcut = body.shortcut
    if body.body is not None:
        q.body = body.body
    q.updated_by = user.user_id
    await _save(session, q)
    if _audit_details(q) != before:
        await record(
            session,
            actor_of(user),
            "quick_reply.updated",
            target_type="quick_reply",
            target_id=qr_id,
            details={"from": before, "to": _audit_details(q)},
        )
    return quick_reply_view(q)


async def delete_quick_reply(session: AsyncSession, user: Principal, qr_id: uuid.UUID) -> bool:
    q = await session.get(QuickReply, qr_id)
    if q is None:
        return False
    await record(
        session,
        actor_of(user),
        "quick_reply.deleted",
        target_type="quick_reply",
        target_id=qr_id,
        details=_audit_details(q),
    )
    await session.delete(q)
    return True


router = APIRouter(tags=["quick replies"])


@router.get("/api/quick-replies")
async def quick_replies(user: CurrentUser, deps: Deps) -> list[dict[str, Any]]:
    """The tenant's quick replies, by shortcut."""
    async with deps.registry.session(user.tenant_id) as session:
        return await list_quick_replies(session)


@router.post("/api/quick-replies", status_code=201, responses={409: {}, 422: {}})
async def add_quick_reply(body: QuickReplyIn, user: CurrentUser, deps: Deps) -> dict[str, Any]:
    """Save a quick reply ``{"shortcut": "hours", "body": "..."}`` (shortcut: a-z, 0-9, - and _)."""
    try:
        async with deps.registry.begin(user.tenant_id) as session:
            return await create_quick_reply(session, user, body)
    except ShortcutTaken as exc:
        raise HTTPException(409, str(exc)) from exc


@router.patch("/api/quick-replies/{qr_id}", responses={404: {}, 409: {}, 422: {}})
async def edit_quick_reply(
    qr_id: uuid.UUID, body: QuickReplyPatch, user: CurrentUser, deps: Deps
) -> dict[str, Any]:
    """Change a quick reply's shortcut or text."""
    try:
        async with deps.registry.begin(user.tenant_id) as session:
            view = await update_quick_reply(session, user, qr_id, body)
    except ShortcutTaken as exc:
        raise HTTPException(409, str(exc)) from exc
    if view is None:
        raise HTTPException(404, "no such quick reply")
    return view


@router.delete("/api/quick-replies/{qr_id}", status_code=204, responses={404: {}})
async def remove_quick_reply(qr_id: uuid.UUID, user: CurrentUser, deps: Deps) -> Response:
    """Delete a quick reply."""
    async with deps.registry.begin(user.tenant_id) as session:
        if not await delete_quick_reply(session, user, qr_id):
            raise HTTPException(404, "no such quick reply")
    return Response(status_code=204)
