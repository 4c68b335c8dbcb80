"""Renewing a user token before it expires (``fb_exchange_token``), and what a failed renewal tells.

The exchange runs outside any transaction (Meta may take seconds). The new token is then sealed
and stored only if the stored token is still the one that was renewed: an owner who saved another
token meanwhile keeps theirs (the renewed one is simply not used). A refusal warns the owner at
the 7-day and 1-day stages, with Meta's reason and the next step; never with the token.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from account_monitor.notices import EXPIRING_KIND, AccountLabel, expiring_notice, resolve, warned
from omni_common.crypto import KeyRing
from omni_common.db.tenant_models import SocialAccount
from omni_common.graph import GraphError
from omni_common.graph.lifecycle import Exchanged
from omni_common.tenancy.accounts import store_renewed_token
from omni_common.tenancy.audit import Actor, record
from omni_common.tenancy.token_expiry import TokenCheck, decide

Refresh = Callable[[str], Awaitable[Exchanged]]  # token -> renewed token; GraphError when refused

ACTOR = Actor.system("account-monitor")


async def locked_if_unchanged(session: AsyncSession, account_id: uuid.UUID, ciphertext: str | None) -> bool:
    """Lock the account's row; True when it still holds ``ciphertext`` and is active.

    Meta's answer is about the token read before asking it: if the owner saved a new token (or
    disabled the account) meanwhile, the answer is stale and must not be written.
    """
    current = (
        await session.execute(
            select(SocialAccount.credentials, SocialAccount.is_active, SocialAccount.status)
            .where(SocialAccount.id == account_id)
            .with_for_update()
        )
    ).one_or_none()
    return (
        current is not None
        and current.credentials == ciphertext
        and bool(current.is_active)
        and current.status == "active"
    )


async def store_renewal(
    session: AsyncSession,
    *,
    keyring: KeyRing,
    tenant_id: uuid.UUID,
    account: AccountLabel,
    fresh: Exchanged,
    now: datetime,
) -> None:
    """Seal and store the renewed token, resolve "expires soon" warnings, audit it (no token)."""
    await store_renewed_token(
        session,
        keyring=keyring,
        tenant_id=tenant_id,
        account_id=account.id,
        token=fresh.token,
        expires_at=fresh.expires_at,
        now=now,
    )
    await resolve(session, account.id, EXPIRING_KIND, now)
    await record(
        session,
        ACTOR,
        "account.token_renewed",
        target_type="social_account",
        target_id=account.id,
        details={
            "channel": account.channel,
            "account_id": account.external_id,
            "expires_at": fresh.expires_at.isoformat() if fresh.expires_at else None,
        },
    )


def refusal_words(exc: GraphError) -> str:
    """Meta's reason for refusing a renewal, short and without anything secret (codes, message)."""
    code = f" (code {exc.code})" if exc.code is not None else ""
    return f"{(exc.message or 'no reason given')[:200]}{code}"


async def warn_after_failure(
    session: AsyncSession,
    account: AccountLabel,
    check: TokenCheck,
    now: datetime,
    *,
    warn_days: int,
    reason: str,
) -> bool:
    """Warn the owner that a renewal failed, when a warning stage is due and not yet warned."""
    done = await warned(session, account.id, warn_days)
    decision = decide(check, now, warn_days=warn_days, warned=done, refresh_failed=True)
    if not decision.warn:
        return False
    session.add(expiring_notice(account, decision, kind=check.kind, refresh_failure=reason))
    return True


async def renew(
    refresh: Refresh,
    token: str,
    bound: structlog.BoundLogger,
) -> Exchanged | GraphError:
    """The exchange itself: the renewed token, or Meta's refusal (logged by class and code only)."""
    try:
        fresh = await refresh(token)
    except GraphError as exc:
        bound.warning("token_renewal_failed", error_class=exc.error_class.value, code=exc.code)
        return exc
    bound.info("token_renewed", expires_at=str(fresh.expires_at))
    return fresh
