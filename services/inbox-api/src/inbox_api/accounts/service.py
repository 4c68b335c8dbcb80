"""Connecting and changing social accounts: the token checked with Meta first, then saved (encrypted)
with its audit entry; "Test connection" asks Meta about the saved token.

Errors: AccountConflict (another restaurant holds the account), CredentialsRefused (Meta refused the
token, with its reason), MetaUnreachable (Meta could not be asked), Invalid, NotFound. Nothing is
saved in any of them.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.accounts.models import AccountIn, AccountPatch
from inbox_api.auth.models import Principal
from inbox_api.deps import InboxDeps
from inbox_api.errors import Invalid, MetaUnreachable
from inbox_api.live.service import announce
from inbox_api.rows import get_or_404
from inbox_api.wa_templates.service import start_sync
from omni_common.db.tenant_models import SocialAccount
from omni_common.graph import GraphError
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
from omni_common.tenancy.audit import record

log = structlog.get_logger(__name__)
NO_SUCH = "no such account"


async def check_token(
    deps: InboxDeps, channel: str, account_id: str, token: str, waba_id: str | None
) -> str | None:
    """The display name Meta reports for the account with ``token`` (None when checks are off).

    CredentialsRefused carries Meta's reason (OwnershipRefused: the token does not prove the
    account is the caller's); MetaUnreachable when the answer could not be had.
    """
    if deps.verify is None:
        return None
    try:
        return await deps.verify(channel, account_id, token, waba_id)
    except GraphError as exc:  # verify_credentials turns Meta's refusals into CredentialsRefused
        raise MetaUnreachable(f"could not reach Meta to check the token: {exc.message}") from exc


async def connect(
    deps: InboxDeps, user: Principal, body: AccountIn, *, pin: str | None = None
) -> AccountView:
    """Check the token with Meta, then connect (or re-connect) the account.

    AccountConflict when another tenant holds it; CredentialsRefused when Meta refuses the token.
    ``pin``: the two-step PIN a WhatsApp number was just registered with (connect/embedded.py), sealed
    with the token; never part of ``AccountIn`` (no person types or sees it).
    """
    if body.channel == "whatsapp" and not body.waba_id:
        raise Invalid("a WhatsApp number needs its WhatsApp Business Account id")
    checked_name = await check_token(
        deps, body.channel, body.external_account_id, body.token, body.waba_id or None
    )
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
            pin=pin,
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
    if view.channel == "whatsapp":  # its templates, fetched from Meta in the background
        start_sync(deps, user, [view.id])
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
    await record(
        session,
        user.actor(),
        action,
        target_type="social_account",
        target_id=account_id,
        details=details,
    )


def _clean_name(name: str | None) -> str | None:
    return (name or "").strip() or None


async def patch(deps: InboxDeps, user: Principal, account_id: uuid.UUID, body: AccountPatch) -> AccountView:
    """Replace the token, rename, enable or disable; NotFound when the tenant has no such account."""
    async with deps.registry.begin(user.tenant_id) as session:
        row = await get_or_404(session, SocialAccount, account_id, NO_SUCH)
        channel, external_id = row.platform, row.external_account_id
        requested_enabled = body.enabled  # what the user asked, before a token swap adjusts it
        if body.human_agent is not None:
            # Refused before anything is written: a new token goes to the catalog at once (another
            # database, outside this transaction), so a later refusal would leave it changed.
            _check_human_agent(row)
        ids = {"channel": channel, "external_account_id": external_id}
        if body.token is not None:
            await check_token(deps, channel, external_id, body.token, row.waba_id)
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
        if body.human_agent is not None:
            await set_human_agent(session, user, row, body.human_agent)
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


def _check_human_agent(row: SocialAccount) -> None:
    if row.platform not in ("facebook", "instagram"):
        raise Invalid("the human-agent tag exists only on Messenger and Instagram")


async def set_human_agent(session: AsyncSession, user: Principal, row: SocialAccount, on: bool) -> None:
    """Messenger/Instagram only: replies between 24 hours and 7 days go as HUMAN_AGENT (the owner
    says Meta granted the permission after App Review; without it Meta refuses such replies)."""
    _check_human_agent(row)
    if bool(row.human_agent_enabled) == on:
        return
    await session.execute(
        update(SocialAccount).where(SocialAccount.id == row.id).values(human_agent_enabled=on)
    )
    ids = {"channel": row.platform, "external_account_id": row.external_account_id}
    await _audit(session, user, "account.human_agent_changed", row.id, **ids, enabled=on)


async def test_connection(deps: InboxDeps, user: Principal, account_id: uuid.UUID) -> dict[str, Any]:
    """Ask Meta whether the saved token still works; a refused token flags the account needs_reauth."""
    async with deps.registry.session(user.tenant_id) as session:
        row = await get_or_404(session, SocialAccount, account_id, NO_SUCH)
        channel, external_id, waba_id = row.platform, row.external_account_id, row.waba_id
        token = await read_token(
            session, keyring=deps.keyring, tenant_id=user.tenant_id, account_id=account_id
        )
    try:
        name = await check_token(deps, channel, external_id, token, waba_id)
    except CredentialsRefused as exc:
        async with deps.registry.begin(user.tenant_id) as session:
            flagged = await flag_needs_reauth(session, account_id=account_id, why=str(exc), error_code="190")
            await _audit(session, user, "account.tested", account_id, ok=False, reason=str(exc)[:200])
        for event in flagged.events:
            await announce(deps, user.tenant_id, event.kind, None, event.data, by=user.user_id)
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
