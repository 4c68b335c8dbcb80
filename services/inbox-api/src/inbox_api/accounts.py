"""Connected social accounts (the CLI's operations over HTTP) and the tenant's notifications."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth import CurrentUser, Deps, Principal
from inbox_api.deps import InboxDeps
from inbox_api.workflow import announce
from omni_common.db.tenant_models import Notification, SocialAccount
from omni_common.errors import AccountConflict
from omni_common.graph import GraphError
from omni_common.tenancy import audit
from omni_common.tenancy.accounts import (
    AccountView,
    CredentialsRefused,
    connect_account,
    flag_needs_reauth,
    list_accounts,
    read_token,
    rename_account,
    resolve_notifications,
    set_account_enabled,
)

log = structlog.get_logger(__name__)

STATUS_HELP = {
    "active": "Connected: messages arrive and replies are sent.",
    "disabled": "Disabled: incoming messages are not shown and nothing is sent.",
    "needs_reauth": (
        "Needs a new access token: Meta rejected the saved token (expired or revoked). "
        "Generate a new token in Meta Business Suite and replace it here."
    ),
}


class AccountIn(BaseModel):
    channel: Literal["whatsapp", "facebook", "instagram"]
    external_account_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_.-]+$")
    token: str = Field(min_length=8, max_length=4096)
    waba_id: str | None = Field(default=None, max_length=64)
    display_name: str | None = Field(default=None, max_length=200)


class AccountPatch(BaseModel):
    enabled: bool | None = None
    token: str | None = Field(default=None, min_length=8, max_length=4096)
    display_name: str | None = Field(default=None, max_length=200)


def account_dict(view: AccountView) -> dict[str, Any]:
    return {**view.to_dict(), "status_help": STATUS_HELP.get(view.status, "")}


class MetaUnreachable(Exception):
    """The Graph API could not be asked (network, Meta down): nothing was saved."""


async def check_token(deps: InboxDeps, channel: str, account_id: str, token: str) -> str | None:
    """The display name Meta reports for the account with ``token`` (None when checks are off).

    CredentialsRefused carries Meta's reason; MetaUnreachable when the answer could not be had.
    """
    if deps.verify is None:
        return None
    try:
        return await deps.verify(channel, account_id, token)
    except GraphError as exc:  # verify_credentials turns Meta's refusals into CredentialsRefused
        raise MetaUnreachable(f"could not reach Meta to check the token: {exc.message}") from exc


async def connect(deps: InboxDeps, user: Principal, body: AccountIn) -> AccountView:
    """Check the token with Meta, then connect (or re-connect) the account.

    AccountConflict when another tenant holds it; CredentialsRefused when Meta refuses the token.
    """
    if body.channel == "whatsapp" and not body.waba_id:
        raise ValueError("a WhatsApp number needs its WhatsApp Business Account id")
    checked_name = await check_token(deps, body.channel, body.external_account_id, body.token)
    async with deps.registry.begin(user.tenant_id) as session:
        existed = await _exists(session, body.channel, body.external_account_id)
        view = await connect_account(
            session,
            catalog=deps.catalog,
            keyring=deps.keyring,
            tenant_id=user.tenant_id,
            channel=body.channel,
            external_account_id=body.external_account_id,
            token=body.token,
            waba_id=body.waba_id or None,
            display_name=body.display_name or checked_name,
        )
        await resolve_notifications(session, view.id)
        await _audit(
            session,
            user,
            "account.token_replaced" if existed else "account.connected",
            view.id,
            channel=body.channel,
            external_account_id=body.external_account_id,
        )
    return view


async def _exists(session: AsyncSession, channel: str, external_id: str) -> bool:
    found = await session.scalar(
        select(SocialAccount.id).where(
            SocialAccount.platform == channel, SocialAccount.external_account_id == external_id
        )
    )
    return found is not None


async def _audit(
    session: AsyncSession, user: Principal, action: str, account_id: uuid.UUID, **details: Any
) -> None:
    """One audit entry for an account action, in the action's own transaction."""
    await audit.record(
        session,
        audit.Actor(user.user_id, user.email),
        action,
        target_type="social_account",
        target_id=account_id,
        details=details,
    )


def _clean_name(name: str | None) -> str | None:
    return (name or "").strip() or None


async def patch(
    deps: InboxDeps, user: Principal, account_id: uuid.UUID, body: AccountPatch
) -> AccountView | None:
    """Replace the token, rename, enable or disable; None when the tenant has no such account."""
    async with deps.registry.begin(user.tenant_id) as session:
        row = await session.get(SocialAccount, account_id)
        if row is None:
            return None
        channel, external_id = row.platform, row.external_account_id
        requested_enabled = body.enabled  # what the user asked, before a token swap adjusts it
        ids = {"channel": channel, "external_account_id": external_id}
        if body.token is not None:
            await check_token(deps, channel, external_id, body.token)
            was_enabled = row.is_active
            await connect_account(
                session,
                catalog=deps.catalog,
                keyring=deps.keyring,
                tenant_id=user.tenant_id,
                channel=channel,
                external_account_id=external_id,
                token=body.token,
                waba_id=row.waba_id,
                display_name=_clean_name(body.display_name) or row.display_name,
            )
            await resolve_notifications(session, account_id)
            await _audit(session, user, "account.token_replaced", account_id, **ids)
            if not was_enabled and body.enabled is None:  # a new token does not re-enable by itself
                body.enabled = False
        elif body.display_name is not None:
            # A rename says nothing about the token: status, errors, expiry and notices stay as they are.
            new_name = _clean_name(body.display_name)
            old_name = await rename_account(session, account_id=account_id, display_name=new_name)
            if new_name != old_name:
                await _audit(
                    session, user, "account.renamed", account_id, **ids, previous=old_name, name=new_name
                )
        if body.enabled is not None:
            session.expire_all()
            await set_account_enabled(
                session,
                catalog=deps.catalog,
                tenant_id=user.tenant_id,
                channel=channel,
                external_account_id=external_id,
                enabled=body.enabled,
            )
            if requested_enabled is not None:
                action = "account.enabled" if requested_enabled else "account.disabled"
                await _audit(session, user, action, account_id, **ids)
        # connect/enable return views of ORM rows this session already holds: read afresh instead.
        session.expire_all()
        view = next(v for v in await list_accounts(session) if v.id == account_id)
    log.info(
        "account_changed",
        account_id=str(account_id),
        enabled=body.enabled,
        token_replaced=body.token is not None,
    )
    return view


async def test_connection(deps: InboxDeps, user: Principal, account_id: uuid.UUID) -> dict[str, Any] | None:
    """Ask Meta whether the saved token still works; a refused token flags the account needs_reauth."""
    async with deps.registry.session(user.tenant_id) as session:
        row = await session.get(SocialAccount, account_id)
        if row is None:
            return None
        channel, external_id = row.platform, row.external_account_id
        token = await read_token(
            session, keyring=deps.keyring, tenant_id=user.tenant_id, account_id=account_id
        )
    try:
        name = await check_token(deps, channel, external_id, token)
    except CredentialsRefused as exc:
        async with deps.registry.begin(user.tenant_id) as session:
            flagged = await flag_needs_reauth(session, account_id=account_id, why=str(exc), error_code="190")
            await _audit(session, user, "account.tested", account_id, ok=False, reason=str(exc)[:200])
        for event in flagged.events:
            await announce(deps, user, event.kind, None, event.data)
        return {"ok": False, "reason": str(exc)}
    reactivated = row.status == "needs_reauth"
    async with deps.registry.begin(user.tenant_id) as session:
        # Meta accepts the token again: what was recorded about its failure no longer holds.
        values: dict[str, Any] = {"last_error_code": None, "last_error_message": None, "last_error_at": None}
        if name:
            values["display_name"] = name
        if reactivated:
            values["status"] = "active" if row.is_active else "disabled"
        await session.execute(update(SocialAccount).where(SocialAccount.id == account_id).values(**values))
        if reactivated:
            await resolve_notifications(session, account_id)
        await _audit(session, user, "account.tested", account_id, ok=True, reactivated=reactivated)
    return {"ok": True, "display_name": name, "checked": deps.verify is not None}


async def list_notifications(session: AsyncSession, *, open_only: bool) -> list[dict[str, Any]]:
    stmt = select(Notification).order_by(Notification.created_at.desc()).limit(100)
    if open_only:
        stmt = stmt.where(Notification.resolved_at.is_(None))
    return [
        {
            "id": str(n.id),
            "kind": n.kind,
            "severity": n.severity,
            "title": n.title,
            "body": n.body,
            "social_account_id": str(n.social_account_id) if n.social_account_id else None,
            "created_at": n.created_at.isoformat(),
            "read_at": n.read_at.isoformat() if n.read_at else None,
            "resolved_at": n.resolved_at.isoformat() if n.resolved_at else None,
        }
        for n in (await session.execute(stmt)).scalars()
    ]


router = APIRouter(tags=["settings"])


@contextmanager
def http_errors() -> Iterator[None]:
    """The HTTP answer of each way saving an account can fail (nothing is saved in any of them)."""
    try:
        yield
    except AccountConflict as exc:
        raise HTTPException(409, "this account is already connected to another restaurant") from exc
    except CredentialsRefused as exc:
        raise HTTPException(422, str(exc)) from exc
    except MetaUnreachable as exc:
        raise HTTPException(502, str(exc)) from exc
    except ValueError as exc:  # invalid input (e.g. a WhatsApp number without its WABA id)
        raise HTTPException(422, str(exc)) from exc


@router.get("/api/social-accounts")
async def accounts(user: CurrentUser, deps: Deps) -> list[dict[str, Any]]:
    """Connected accounts; tokens are never returned (only whether one is set, and its last 4)."""
    async with deps.registry.session(user.tenant_id) as session:
        return [account_dict(v) for v in await list_accounts(session)]


@router.post("/api/social-accounts", status_code=201, responses={409: {}, 422: {}, 502: {}})
async def add_account(body: AccountIn, user: CurrentUser, deps: Deps) -> dict[str, Any]:
    """Connect an account (connecting the same account id again replaces its token)."""
    with http_errors():
        return account_dict(await connect(deps, user, body))


@router.patch("/api/social-accounts/{account_id}", responses={404: {}, 409: {}, 422: {}, 502: {}})
async def change_account(
    account_id: uuid.UUID, body: AccountPatch, user: CurrentUser, deps: Deps
) -> dict[str, Any]:
    """Enable/disable an account, replace its token or rename it."""
    with http_errors():
        view = await patch(deps, user, account_id, body)
    if view is None:
        raise HTTPException(404, "no such account")
    return account_dict(view)


@router.post("/api/social-accounts/{account_id}/test", responses={404: {}, 502: {}})
async def test_account(account_id: uuid.UUID, user: CurrentUser, deps: Deps) -> dict[str, Any]:
    """Check the saved token with Meta: {"ok": true, "display_name"} or {"ok": false, "reason"}."""
    with http_errors():
        result = await test_connection(deps, user, account_id)
    if result is None:
        raise HTTPException(404, "no such account")
    return result


@router.get("/api/notifications")
async def notifications(user: CurrentUser, deps: Deps, open_only: bool = True) -> list[dict[str, Any]]:
    """Account problems and other notices, newest first (unresolved ones by default)."""
    async with deps.registry.session(user.tenant_id) as session:
        return await list_notifications(session, open_only=open_only)


@router.post("/api/notifications/{notification_id}/read", status_code=204, responses={404: {}})
async def read_notification(notification_id: uuid.UUID, user: CurrentUser, deps: Deps) -> None:
    """Mark a notification read (it stays listed until its problem is resolved)."""
    async with deps.registry.begin(user.tenant_id) as session:
        done = await session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(read_at=datetime.now(UTC))
            .returning(Notification.id)
        )
        if done.first() is None:
            raise HTTPException(404, "no such notification")
