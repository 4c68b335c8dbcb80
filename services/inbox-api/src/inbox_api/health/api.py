"""``GET /api/channel-health`` (every account) and ``GET /api/social-accounts/{id}/health`` (one)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from inbox_api.auth.dependencies import TenantSession
from inbox_api.health.service import account_health_by_id, tenant_health

router = APIRouter(tags=["settings"])


@router.get("/api/channel-health")
async def channel_health(session: TenantSession) -> list[dict[str, Any]]:
    """Health of every connected account of the tenant."""
    return await tenant_health(session, datetime.now(UTC))


@router.get("/api/social-accounts/{account_id}/health", responses={404: {}})
async def one_account_health(account_id: uuid.UUID, session: TenantSession) -> dict[str, Any]:
    """Health of one connected account."""
    return await account_health_by_id(session, account_id, datetime.now(UTC))
