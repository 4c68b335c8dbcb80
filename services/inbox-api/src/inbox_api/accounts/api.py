"""JSON routes of connected accounts and of the tenant's notifications."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from inbox_api.accounts.models import AccountIn, AccountPatch, account_dict
from inbox_api.accounts.notifications import list_notifications, mark_notification_read
from inbox_api.accounts.service import connect, patch, test_connection
from inbox_api.auth.dependencies import CurrentUser, Deps, TenantSession, TenantTransaction
from omni_common.tenancy.accounts import list_accounts

router = APIRouter(tags=["settings"])


@router.get("/api/social-accounts")
async def accounts(session: TenantSession) -> list[dict[str, Any]]:
    """Connected accounts; tokens are never returned (only whether one is set, and its last 4)."""
    return [account_dict(v) for v in await list_accounts(session)]


@router.post("/api/social-accounts", status_code=201, responses={409: {}, 422: {}, 502: {}})
async def add_account(body: AccountIn, user: CurrentUser, deps: Deps) -> dict[str, Any]:
    """Connect an account (connecting the same account id again replaces its token); the owner only,
    like every change of accounts (``auth/roles``)."""
    return account_dict(await connect(deps, user, body))


@router.patch("/api/social-accounts/{account_id}", responses={404: {}, 409: {}, 422: {}, 502: {}})
async def change_account(
    account_id: uuid.UUID, body: AccountPatch, user: CurrentUser, deps: Deps
) -> dict[str, Any]:
    """Enable/disable an account, replace its token or rename it."""
    return account_dict(await patch(deps, user, account_id, body))


@router.post("/api/social-accounts/{account_id}/test", responses={404: {}, 502: {}})
async def test_account(account_id: uuid.UUID, user: CurrentUser, deps: Deps) -> dict[str, Any]:
    """Check the saved token with Meta: {"ok": true, "display_name"} or {"ok": false, "reason"}."""
    return await test_connection(deps, user, account_id)


@router.get("/api/notifications")
async def notifications(session: TenantSession, open_only: bool = True) -> list[dict[str, Any]]:
    """Account problems and other notices, newest first (unresolved ones by default)."""
    return await list_notifications(session, open_only=open_only)


@router.post("/api/notifications/{notification_id}/read", status_code=204, responses={404: {}})
async def read_notification(notification_id: uuid.UUID, session: TenantTransaction) -> None:
    """Mark a notification read (it stays listed until its problem is resolved)."""
    await mark_notification_read(session, notification_id)
