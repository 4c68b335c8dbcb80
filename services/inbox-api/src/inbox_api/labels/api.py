"""JSON routes of labels, and of labels on a conversation."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from inbox_api.auth.dependencies import CurrentUser, Deps, TenantSession, TenantTransaction
from inbox_api.labels.models import LabelIn, LabelPatch
from inbox_api.labels.service import change_chat_label, create_label, delete_label, list_labels, update_label

router = APIRouter(tags=["labels"])


@router.get("/api/labels")
async def labels(session: TenantSession) -> list[dict[str, Any]]:
    """The tenant's labels, by name."""
    return await list_labels(session)


@router.post("/api/labels", status_code=201, responses={409: {}, 422: {}})
async def add_label(body: LabelIn, user: CurrentUser, session: TenantTransaction) -> dict[str, Any]:
    """Create a label ``{"name", "color": "#rrggbb"}``; 409 when the name is taken."""
    return await create_label(session, user, body)


@router.patch("/api/labels/{label_id}", responses={404: {}, 409: {}, 422: {}})
async def edit_label(
    label_id: uuid.UUID, body: LabelPatch, user: CurrentUser, session: TenantTransaction
) -> dict[str, Any]:
    """Rename or recolour a label."""
    return await update_label(session, user, label_id, body)


@router.delete("/api/labels/{label_id}", status_code=204, responses={404: {}})
async def remove_label(label_id: uuid.UUID, user: CurrentUser, session: TenantTransaction) -> Response:
    """Delete a label (it comes off every conversation)."""
    await delete_label(session, user, label_id)
    return Response(status_code=204)


@router.put("/api/conversations/{chat_id}/labels/{label_id}", status_code=204, responses={404: {}})
async def label_conversation(
    chat_id: uuid.UUID, label_id: uuid.UUID, user: CurrentUser, deps: Deps
) -> Response:
    """Put a label on a conversation (idempotent)."""
    await change_chat_label(deps, user, chat_id, label_id, True)
    return Response(status_code=204)


@router.delete("/api/conversations/{chat_id}/labels/{label_id}", status_code=204, responses={404: {}})
async def unlabel_conversation(
    chat_id: uuid.UUID, label_id: uuid.UUID, user: CurrentUser, deps: Deps
) -> Response:
    """Take a label off a conversation (idempotent)."""
    await change_chat_label(deps, user, chat_id, label_id, False)
    return Response(status_code=204)
