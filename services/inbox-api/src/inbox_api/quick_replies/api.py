"""JSON routes of quick replies."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from inbox_api.auth.dependencies import CurrentUser, TenantSession, TenantTransaction
from inbox_api.quick_replies.models import QuickReplyIn, QuickReplyPatch
from inbox_api.quick_replies.service import (
    create_quick_reply,
    delete_quick_reply,
    list_quick_replies,
    update_quick_reply,
)

router = APIRouter(tags=["quick replies"])


@router.get("/api/quick-replies")
async def quick_replies(session: TenantSession) -> list[dict[str, Any]]:
    """The tenant's quick replies, by shortcut."""
    return await list_quick_replies(session)


@router.post("/api/quick-replies", status_code=201, responses={409: {}, 422: {}})
async def add_quick_reply(
    body: QuickReplyIn, user: CurrentUser, session: TenantTransaction
) -> dict[str, Any]:
    """Save a quick reply ``{"shortcut": "hours", "body": "..."}`` (shortcut: a-z, 0-9, - and _)."""
    return await create_quick_reply(session, user, body)


@router.patch("/api/quick-replies/{qr_id}", responses={404: {}, 409: {}, 422: {}})
async def edit_quick_reply(
    qr_id: uuid.UUID, body: QuickReplyPatch, user: CurrentUser, session: TenantTransaction
) -> dict[str, Any]:
    """Change a quick reply's shortcut or text."""
    return await update_quick_reply(session, user, qr_id, body)


@router.delete("/api/quick-replies/{qr_id}", status_code=204, responses={404: {}})
async def remove_quick_reply(qr_id: uuid.UUID, user: CurrentUser, session: TenantTransaction) -> Response:
    """Delete a quick reply."""
    await delete_quick_reply(session, user, qr_id)
    return Response(status_code=204)
