"""``GET /api/audit``: the tenant's audit trail for its owner."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from inbox_api.audit.service import list_audit
from inbox_api.auth.dependencies import TenantSession

MAX_PAGE = 200
router = APIRouter(tags=["audit"])


@router.get("/api/audit", responses={403: {}})
async def audit(
    session: TenantSession,
    action: Annotated[str | None, Query(max_length=80, description="action or prefix")] = None,
    target_id: Annotated[str | None, Query(max_length=80)] = None,
    since: Annotated[datetime | None, Query(description="ISO time")] = None,
    before: Annotated[int | None, Query(ge=1, description="next_before of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> dict[str, Any]:
    """The tenant's audit trail, newest first (owners only, ``auth/roles``: managers' own actions are
    in it; managers get 403)."""
    return await list_audit(
        session, action=action, target_id=target_id, since=since, before_id=before, limit=limit
    )
