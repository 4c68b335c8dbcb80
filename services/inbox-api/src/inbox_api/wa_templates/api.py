"""JSON routes of WhatsApp templates: the list of a number's templates, and a refresh from Meta."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from inbox_api.auth.dependencies import CurrentUser, Deps
from inbox_api.wa_templates.service import list_templates, stale_accounts, start_sync, sync_now

router = APIRouter(tags=["templates"])


class SyncIn(BaseModel):
    """Which number's templates to fetch again (all WhatsApp numbers when absent)."""

    account_id: uuid.UUID | None = None


@router.get("/api/templates", responses={404: {}, 422: {}})
async def templates(
    user: CurrentUser,
    deps: Deps,
    account_id: Annotated[uuid.UUID | None, Query(description="a connected WhatsApp number's id")] = None,
    status: Annotated[str | None, Query(description="e.g. APPROVED, or APPROVED,PAUSED")] = None,
) -> list[dict[str, Any]]:
    """The number's message templates as Meta last listed them: ``[{id, account_id, name, language,
    category, status, components, reason, ...}]`` (``reason``: why it was rejected, paused or
    disabled, in plain words). A number never synced (or not for hours) is synced in the background."""
    statuses = [s.strip() for s in status.split(",") if s.strip()] if status else None
    async with deps.registry.session(user.tenant_id) as session:
        found = await list_templates(session, account_id, statuses)
        stale = await stale_accounts(session, account_id)
    start_sync(deps, user, stale, force=False)
    return found


@router.post("/api/templates/sync", status_code=202, responses={404: {}, 422: {}})
async def sync(user: CurrentUser, deps: Deps, body: SyncIn | None = None) -> dict[str, Any]:
    """Fetch the templates from Meta again (every page), in the background: 202 at once; live
    inboxes hear a ``notification`` (``kind: templates_synced``) when it is done."""
    accounts = await sync_now(deps, user, body.account_id if body else None)
    return {"status": "syncing", "accounts": [str(a) for a in accounts]}
