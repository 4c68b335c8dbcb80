"""Labels of the tenant, and labels on conversations; every change is audited in its transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.models import Principal
from inbox_api.deps import InboxDeps
from inbox_api.errors import Conflict, NotFound
from inbox_api.labels.models import LabelIn, LabelPatch
from inbox_api.live.service import announce
from inbox_api.rows import add_unique, get_or_404
from omni_common.db.tenant_models import Chat, ChatLabel, Label
from omni_common.tenancy.audit import record


class LabelExists(Conflict):
    """Another label of the tenant has this name (names are unique, case-insensitively)."""


def label_view(label: Label) -> dict[str, Any]:
    return {"id": str(label.id), "name": label.name, "color": label.color}


async def list_labels(session: AsyncSession) -> list[dict[str, Any]]:
    rows = (await session.execute(select(Label).order_by(func.lower(Label.name)))).scalars()
    return [label_view(x) for x in rows]


async def _save(session: AsyncSession, label: Label) -> None:
    await add_unique(session, label, LabelExists(f"a label named {label.name!r} already exists"))


async def _audit(
    session: AsyncSession, user: Principal, action: str, label_id: uuid.UUID, details: Any
) -> None:
    await record(session, user.actor(), action, target_type="label", target_id=label_id, details=details)


async def create_label(session: AsyncSession, user: Principal, body: LabelIn) -> dict[str, Any]:
    label = Label(name=body.name, color=body.color)
    await _save(session, label)
    view = label_view(label)
    await _audit(session, user, "label.created", label.id, view)
    return view


async def update_label(
    session: AsyncSession, user: Principal, label_id: uuid.UUID, body: LabelPatch
) -> dict[str, Any]:
    """Rename or recolour; NotFound when the tenant has no such label."""
    label = await get_or_404(session, Label, label_id, "no such label")
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
        await _audit(session, user, "label.updated", label_id, details)
    return view


async def delete_label(session: AsyncSession, user: Principal, label_id: uuid.UUID) -> None:
    """Delete a label (its chat_labels rows go with it); NotFound when there is none."""
    label = await get_or_404(session, Label, label_id, "no such label")
    await _audit(session, user, "label.deleted", label_id, label_view(label))
    await session.delete(label)  # chat_labels rows go with it (ON DELETE CASCADE)


async def set_chat_label(
    session: AsyncSession, user: Principal, chat_id: uuid.UUID, label_id: uuid.UUID, on: bool
) -> bool:
    """Put a label on a conversation (or take it off); NotFound when either does not exist here.

    Returns whether anything changed; only real changes are recorded in the audit trail.
    """
    label = await session.get(Label, label_id)
    if label is None or await session.get(Chat, chat_id) is None:
        raise NotFound("no such conversation or label")
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
            user.actor(),
            "conversation.label_added" if on else "conversation.label_removed",
            target_type="conversation",
            target_id=chat_id,
            details={"label_id": str(label_id), "label": label.name},
        )
    return changed


async def change_chat_label(
    deps: InboxDeps, user: Principal, chat_id: uuid.UUID, label_id: uuid.UUID, on: bool
) -> None:
    """Commit a label change and announce it; NotFound when the chat or label is not this tenant's."""
    async with deps.registry.begin(user.tenant_id) as session:
        changed = await set_chat_label(session, user, chat_id, label_id, on)
    if changed:
        data = {"label_id": str(label_id), "on": on}
        await announce(deps, user.tenant_id, "conversation.labels", chat_id, data, by=user.user_id)
