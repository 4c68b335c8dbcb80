"""Labels (reservation, complaint, catering, allergy...) with a colour, and putting them on conversations."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field, StringConstraints, field_validator
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth import CurrentUser, Deps, Principal
from inbox_api.deps import InboxDeps
from inbox_api.workflow import actor_of, announce
from omni_common.db.tenant_models import Chat, ChatLabel, Label
from omni_common.tenancy.audit import record

HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_COLOR = "#6b7280"
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class LabelExists(ValueError):
    """Another label of the tenant has this name (names are unique, case-insensitively)."""


def _color(value: str | None) -> str | None:
    if value is None:
        return None
    if not HEX.match(value.strip()):
        raise ValueError("color must be #rrggbb")
    return value.strip().lower()


class LabelIn(BaseModel):
    name: Name
    color: str = Field(default=DEFAULT_COLOR, description="#rrggbb")

    _check_color = field_validator("color")(_color)


class LabelPatch(BaseModel):
    name: Name | None = None
    color: str | None = Field(default=None, description="#rrggbb")

    _check_color = field_validator("color")(_color)


def label_view(label: Label) -> dict[str, Any]:
    return {"id": str(label.id), "name": label.name, "color": label.color}


async def list_labels(session: AsyncSession) -> list[dict[str, Any]]:
    rows = (await session.execute(select(Label).order_by(func.lower(Label.name)))).scalars()
    return [label_view(x) for x in rows]


async def _save(session: AsyncSession, label: Label) -> None:
    name = label.name  # read now: a failed savepoint expires the object
    try:
        async with session.begin_nested():  # a duplicate name rolls back this label only
            session.add(label)
            await session.flush()
    except IntegrityError as exc:
        raise LabelExists(f"a label named {name!r} already exists") from exc


async def create_label(session: AsyncSession, user: Principal, body: LabelIn) -> dict[str, Any]:
    label = Label(name=body.name, color=body.color)
    await _save(session, label)
    view = label_view(label)
    await record(
        session, actor_of(user), "label.created", target_type="label", target_id=label.id, details=view
    )
    return view


async def update_label(
    session: AsyncSession, user: Principal, label_id: uuid.UUID, body: LabelPatch
) -> dict[str, Any] | None:
    label = await session.get(Label, label_id)
    if label is None:
        return None
    before = label_view(label)
    if body.name is not None:
        label.name = body.name
    if body.color is not None:
        label.color = body.color
    await _save(session, label)
    view = label_view(label)
    if view != before:
        details = {
            "from": {k: before[k] for k in ("name", "color")},
            "to": {"name": label.name, "color": label.color},
        }
        await record(
            session, actor_of(user), "label.updated", target_type="label", target_id=label_id, details=details
        )
    return view


async def delete_label(session: AsyncSession, user: Principal, label_id: uuid.UUID) -> bool:
    label = await session.get(Label, label_id)
    if label is None:
        return False
    await record(
        session,
        actor_of(user),
        "label.deleted",
        target_type="label",
        target_id=label_id,
        details=label_view(label),
    )
    await session.delete(label)  # chat_labels rows go with it (ON DELETE CASCADE)
    return True


async def set_chat_label(
    session: AsyncSession, user: Principal, chat_id: uuid.UUID, label_id: uuid.UUID, on: bool
) -> bool | None:
    """Put a label on a conversation (or take it off); None when either does not exist here.

    Returns whether anything changed; only real changes are recorded in the audit trail.
    """
    label = await session.get(Label, label_id)
    if label is None or await session.get(Chat, chat_id) is None:
        return None
    if on:
        result = await session.execute(
            insert(ChatLabel)
            .values(chat_id=chat_id, label_id=label_id, added_by=user.user_id)
            .on_conflict_do_nothing()
            .returning(ChatLabel.label_id)
        )
    else:
        result = await session.execute(
            delete(ChatLabel)
            .where(ChatLabel.chat_id == chat_id, ChatLabel.label_id == label_id)
            .returning(ChatLabel.label_id)
        )
    changed = result.first() is not None
    if changed:
        await record(
            session,
            actor_of(user),
            "conversation.label_added" if on else "conversation.label_removed",
            target_type="conversation",
            target_id=chat_id,
            details={"label_id": str(label_id), "label": label.name},
        )
    return changed


async def change_chat_label(
    deps: InboxDeps, user: Principal, chat_id: uuid.UUID, label_id: uuid.UUID, on: bool
) -> bool:
    """Commit a label change and announce it; False when the chat or label is not this tenant's."""
    async with deps.registry.begin(user.tenant_id) as session:
        changed = await set_chat_label(session, user, chat_id, label_id, on)
    if changed is None:
        return False
    if changed:
        await announce(deps, user, "conversation.labels", chat_id, {"label_id": str(label_id), "on": on})
    return True


router = APIRouter(tags=["labels"])


@router.get("/api/labels")
async def labels(user: CurrentUser, deps: Deps) -> list[dict[str, Any]]:
    """The tenant's labels, by name."""
    async with deps.registry.session(user.tenant_id) as session:
        return await list_labels(session)


@router.post("/api/labels", status_code=201, responses={409: {}, 422: {}})
async def add_label(body: LabelIn, user: CurrentUser, deps: Deps) -> dict[str, Any]:
    """Create a label ``{"name", "color": "#rrggbb"}``; 409 when the name is taken."""
    try:
        async with deps.registry.begin(user.tenant_id) as session:
            return await create_label(session, user, body)
    except LabelExists as exc:
        raise HTTPException(409, str(exc)) from exc


@router.patch("/api/labels/{label_id}", responses={404: {}, 409: {}, 422: {}})
async def edit_label(label_id: uuid.UUID, body: LabelPatch, user: CurrentUser, deps: Deps) -> dict[str, Any]:
    """Rename or recolour a label."""
    try:
        async with deps.registry.begin(user.tenant_id) as session:
            view = await update_label(session, user, label_id, body)
    except LabelExists as exc:
        raise HTTPException(409, str(exc)) from exc
    if view is None:
        raise HTTPException(404, "no such label")
    return view


@router.delete("/api/labels/{label_id}", status_code=204, responses={404: {}})
async def remove_label(label_id: uuid.UUID, user: CurrentUser, deps: Deps) -> Response:
    """Delete a label (it comes off every conversation)."""
    async with deps.registry.begin(user.tenant_id) as session:
        if not await delete_label(session, user, label_id):
            raise HTTPException(404, "no such label")
    return Response(status_code=204)


@router.put("/api/conversations/{chat_id}/labels/{label_id}", status_code=204, responses={404: {}})
async def label_conversation(
    chat_id: uuid.UUID, label_id: uuid.UUID, user: CurrentUser, deps: Deps
) -> Response:
    """Put a label on a conversation (idempotent)."""
    if not await change_chat_label(deps, user, chat_id, label_id, True):
        raise HTTPException(404, "no such conversation or label")
    return Response(status_code=204)


@router.delete("/api/conversations/{chat_id}/labels/{label_id}", status_code=204, responses={404: {}})
async def unlabel_conversation(
    chat_id: uuid.UUID, label_id: uuid.UUID, user: CurrentUser, deps: Deps
) -> Response:
    """Take a label off a conversation (idempotent)."""
    if not await change_chat_label(deps, user, chat_id, label_id, False):
        raise HTTPException(404, "no such conversation or label")
    return Response(status_code=204)
