"""One monitor pass: ask Meta about every active account's token and act on the answer.

Per account: decrypt the token, ``debug_token`` it, then in one transaction (skipped when the stored
token changed meanwhile: the answer is about the old one) store the expiry and token kind and, as
``omni_common.tenancy.token_expiry.decide`` says, flag the account ``needs_reauth`` (one owner
notification, via ``flag_needs_reauth``), renew the token (``renew``: ``fb_exchange_token``, the
new token sealed and stored only if the old one is still the stored one), or warn the owner at 7
days and at 1 day (each once per expiry date: the warning notification records its date and stage).
Then the accounts still working have their webhook subscription checked (``subscriptions``).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from account_monitor.notices import AccountLabel, expiring_notice, warned
from account_monitor.renew import (
    Refresh,
    locked_if_unchanged,
    refusal_words,
    renew,
    store_renewal,
    warn_after_failure,
)
from account_monitor.subscriptions import SubscriptionCheck, Watched, check_subscriptions
from omni_common.crypto import KeyRing
from omni_common.db.tenant_models import SocialAccount
from omni_common.errors import DatabaseUnavailable, DecryptionError
from omni_common.graph import ErrorClass, GraphError
from omni_common.tenancy.accounts import flag_needs_reauth, read_token
from omni_common.tenancy.token_expiry import REFRESH_DAYS, TokenCheck, decide

log = structlog.get_logger(__name__)

Begin = Callable[[uuid.UUID], AbstractAsyncContextManager[AsyncSession]]
Inspect = Callable[[str], Awaitable[TokenCheck]]

# Outcomes after which the account's token works, so its subscription is worth checking.
WORKING = frozenset({"ok", "warned", "renewed", "renewal_failed"})


@dataclass
class MonitorDeps:
    begin: Begin
    keyring: KeyRing
    inspect: Inspect  # token -> Meta's verdict; GraphError when Meta could not answer
    warn_days: int
    clock: Callable[[], datetime]
    refresh: Refresh | None = None  # None (no Meta app credentials): nothing renewed, owners warned
    subscriptions: SubscriptionCheck | None = None  # None: subscriptions are not checked
    refresh_days: int = REFRESH_DAYS


@dataclass(frozen=True)
class _Account:
    label: AccountLabel
    waba_id: str | None
    refresh_tried_at: datetime | None
    subscription_checked_at: datetime | None

    @property
    def id(self) -> uuid.UUID:
        return self.label.id


def _account(row: Any) -> _Account:
    label = AccountLabel(row.id, row.platform, row.external_account_id, row.display_name)
    return _Account(label, row.waba_id, row.token_refresh_tried_at, row.subscription_checked_at)


async def check_tenant(deps: MonitorDeps, tenant_id: uuid.UUID) -> Counter[str]:
    """Check every active account of one tenant; outcomes counted by name."""
    outcomes: Counter[str] = Counter()
    async with deps.begin(tenant_id) as session:
        rows = (
            await session.execute(
                select(
                    SocialAccount.id,
                    SocialAccount.platform,
                    SocialAccount.external_account_id,
                    SocialAccount.display_name,
                    SocialAccount.waba_id,
                    SocialAccount.token_refresh_tried_at,
                    SocialAccount.subscription_checked_at,
                ).where(SocialAccount.is_active.is_(True), SocialAccount.status == "active")
            )
        ).all()
    working: list[Watched] = []
    for row in rows:
        account = _account(row)
        bound = log.bind(
            tenant_id=str(tenant_id), channel=account.label.channel, account_id=account.label.external_id
        )
        try:
            outcome = await _check_account(deps, tenant_id, account, bound)
        except DatabaseUnavailable:
            raise  # the whole server: the pass stops (run_once)
        except Exception:  # one broken account must not stop the others
            bound.exception("token_check_crashed")
            outcome = "error"
        outcomes[outcome] += 1
        if outcome in WORKING:
            working.append(Watched(account.label, account.waba_id, account.subscription_checked_at))
    if deps.subscriptions is not None and working:
        outcomes += await check_subscriptions(
            deps.subscriptions, deps.begin, deps.keyring, tenant_id, working, deps.clock
        )
    return outcomes


async def _check_account(
    deps: MonitorDeps, tenant_id: uuid.UUID, account: _Account, bound: structlog.BoundLogger
) -> str:
    try:
        async with deps.begin(tenant_id) as session:
            checked_ciphertext = await _ciphertext(session, account.id)
            token = await read_token(
                session, keyring=deps.keyring, tenant_id=tenant_id, account_id=account.id
            )
    except DecryptionError:
        bound.error("token_unreadable")
        return "unreadable"
    try:
        check = await deps.inspect(token)
    except GraphError as exc:
        if exc.error_class is not ErrorClass.AUTH:
            # Meta unreachable, throttled, 5xx: nothing learnt about the token; next run asks again.
            bound.warning("token_check_failed", error_class=exc.error_class.value, code=exc.code)
            return "error"
        # Without an app token the token authenticates its own check: a 190 here is the verdict.
        check = TokenCheck(is_valid=False, expires_at=None, error_code=exc.code, error_message=exc.message)
    now = deps.clock()
    async with deps.begin(tenant_id) as session:
        # The row lock makes the comparison and the write one step (a new token saved meanwhile wins).
        if not await locked_if_unchanged(session, account.id, checked_ciphertext):
            bound.info("token_changed_during_check")
            return "changed"
        decision = decide(
            check,
            now,
            warn_days=deps.warn_days,
            warned=await warned(session, account.id, deps.warn_days),
            last_refresh_attempt=account.refresh_tried_at,
            refresh_failed=deps.refresh is None,  # no app credentials: renewing is impossible
            refresh_days=deps.refresh_days,
        )
        values: dict[str, object] = {"token_expires_at": decision.store_expires_at, "token_kind": check.kind}
        if decision.refresh:
            values["token_refresh_tried_at"] = now
        await session.execute(update(SocialAccount).where(SocialAccount.id == account.id).values(**values))
        if decision.needs_reauth:
            flagged = await flag_needs_reauth(
                session,
                account_id=account.id,
                why=decision.reauth_reason or "token not valid",
                error_code=str(check.error_code or 190),
                now=now,
            )
            bound.error(
                "account_needs_reauth", source="token_monitor", first=flagged.first, code=check.error_code
            )
            return "needs_reauth"
        if decision.warn:
            session.add(expiring_notice(account.label, decision, kind=check.kind, refresh_failure=None))
            bound.warning("token_expiring", expires_at=str(decision.store_expires_at), stage=decision.stage)
            return "warned"
        if not decision.refresh or deps.refresh is None:
            return "ok"
    return await _renew(deps, tenant_id, account, token, checked_ciphertext, check, bound)


async def _renew(
    deps: MonitorDeps,
    tenant_id: uuid.UUID,
    account: _Account,
    token: str,
    checked_ciphertext: str | None,
    check: TokenCheck,
    bound: structlog.BoundLogger,
) -> str:
    assert deps.refresh is not None
    result = await renew(deps.refresh, token, bound)
    now = deps.clock()
    async with deps.begin(tenant_id) as session:
        if not await locked_if_unchanged(session, account.id, checked_ciphertext):
            bound.info("token_changed_during_renewal")
            return "changed"
        if isinstance(result, GraphError):
            told = await warn_after_failure(
                session, account.label, check, now, warn_days=deps.warn_days, reason=refusal_words(result)
            )
            if told:
                bound.warning("token_expiring", expires_at=str(check.expires_at), renewal_failed=True)
            return "renewal_failed"
        await store_renewal(
            session, keyring=deps.keyring, tenant_id=tenant_id, account=account.label, fresh=result, now=now
        )
    return "renewed"


async def _ciphertext(session: AsyncSession, account_id: uuid.UUID) -> str | None:
    return (
        await session.execute(select(SocialAccount.credentials).where(SocialAccount.id == account_id))
    ).scalar_one_or_none()


async def run_once(deps: MonitorDeps, tenants: Callable[[], Awaitable[list[uuid.UUID]]]) -> Counter[str]:
    """Check every active tenant; a tenant whose database fails is logged and skipped."""
    total: Counter[str] = Counter()
    pending = await tenants()
    for done, tenant_id in enumerate(pending):
        try:
            total += await check_tenant(deps, tenant_id)
        except DatabaseUnavailable as exc:
            # Full or down: every other tenant would wait for it in turn. Said once; next pass retries.
            log.warning("token_monitor_pass_skipped", reason=str(exc)[:200], tenants_left=len(pending) - done)
            total["skipped"] += len(pending) - done
            break
        except Exception:
            log.exception("tenant_check_failed", tenant_id=str(tenant_id))
            total["tenant_error"] += 1
    log.info("token_monitor_pass", **dict(total))
    return total
