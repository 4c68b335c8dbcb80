"""One monitor pass: ask Meta about every active account's token and act on the answer.

Per account: decrypt the token, ``debug_token`` it, then in one transaction (skipped when the stored
token changed meanwhile: the answer is about the old one) store the expiry and,
as ``omni_common.tenancy.token_expiry.decide`` says, flag the account ``needs_reauth`` (one owner
notification, via ``flag_needs_reauth``) or warn the owner once per expiry date
(the warning notification itself records the date it warned about).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omni_common.crypto import KeyRing
from omni_common.db.tenant_models import Notification, SocialAccount
from omni_common.domain.channels import channel_name
from omni_common.domain.reauth import fix_hint
from omni_common.errors import DatabaseUnavailable, DecryptionError
from omni_common.graph import ErrorClass, GraphError
from omni_common.tenancy.accounts import flag_needs_reauth, read_token
from omni_common.tenancy.token_expiry import TokenCheck, TokenDecision, decide

log = structlog.get_logger(__name__)

EXPIRING_KIND = "token_expiring"

Begin = Callable[[uuid.UUID], AbstractAsyncContextManager[AsyncSession]]
Inspect = Callable[[str], Awaitable[TokenCheck]]


@dataclass
class MonitorDeps:
    begin: Begin
    keyring: KeyRing
    inspect: Inspect  # token -> Meta's verdict; GraphError when Meta could not answer
    warn_days: int
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class _Account:
    id: uuid.UUID
    channel: str
    external_id: str


async def check_tenant(deps: MonitorDeps, tenant_id: uuid.UUID) -> Counter[str]:
    """Check every active account of one tenant; outcomes counted by name."""
    outcomes: Counter[str] = Counter()
    async with deps.begin(tenant_id) as session:
        rows = (
            await session.execute(
                select(SocialAccount.id, SocialAccount.platform, SocialAccount.external_account_id).where(
                    SocialAccount.is_active.is_(True), SocialAccount.status == "active"
                )
            )
        ).all()
    for row in rows:
        account = _Account(row.id, row.platform, row.external_account_id)
        bound = log.bind(tenant_id=str(tenant_id), channel=account.channel, account_id=account.external_id)
        try:
            outcomes[await _check_account(deps, tenant_id, account, bound)] += 1
        except DatabaseUnavailable:
            raise  # the whole server: the pass stops (run_once)
        except Exception:  # one broken account must not stop the others
            bound.exception("token_check_crashed")
            outcomes["error"] += 1
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
        # Meta's answer is about the token read above. If the owner saved a new token (or disabled
        # the account) while Meta was being asked, the answer is stale: writing it could flag a
        # fresh valid token needs_reauth. The row lock makes the comparison and the write one step.
        current = (
            await session.execute(
                select(SocialAccount.credentials, SocialAccount.is_active, SocialAccount.status)
                .where(SocialAccount.id == account.id)
                .with_for_update()
            )
        ).one_or_none()
        if (
            current is None
            or current.credentials != checked_ciphertext
            or not current.is_active
            or current.status != "active"
        ):
            bound.info("token_changed_during_check")
            return "changed"
        warned = await _warned_for(session, account.id)
        decision = decide(check, now, warn_days=deps.warn_days, warned_for=warned)
        await session.execute(
            update(SocialAccount)
            .where(SocialAccount.id == account.id)
            .values(token_expires_at=decision.store_expires_at)
        )
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
            _add_expiring_notice(session, account, decision)
            bound.warning("token_expiring", expires_at=str(decision.store_expires_at))
            return "warned"
    return "ok"


async def _ciphertext(session: AsyncSession, account_id: uuid.UUID) -> str | None:
    return (
        await session.execute(select(SocialAccount.credentials).where(SocialAccount.id == account_id))
    ).scalar_one_or_none()


async def _warned_for(session: AsyncSession, account_id: uuid.UUID) -> set[datetime]:
    """Expiry dates the owner was already warned about (resolved warnings count too)."""
    rows = (
        await session.execute(
            select(Notification.data).where(
                Notification.social_account_id == account_id, Notification.kind == EXPIRING_KIND
            )
        )
    ).scalars()
    dates = set()
    for data in rows:
        value = (data or {}).get("expires_at")
        if isinstance(value, str):
            try:
                dates.add(datetime.fromisoformat(value))
            except ValueError:
                continue
    return dates


def _add_expiring_notice(session: AsyncSession, account: _Account, decision: TokenDecision) -> None:
    expires_at = decision.store_expires_at
    assert expires_at is not None
    name = channel_name(account.channel)
    left = decision.days_left or 0
    when = "within a day" if left <= 1 else f"in {left} days"
    session.add(
        Notification(
            kind=EXPIRING_KIND,
            severity="warning",
            title=f"{name} connection expires {when}",
            body=f"The access token of account {account.external_id} expires on "
            f"{expires_at:%Y-%m-%d %H:%M} UTC. Replace it before then, or replies through this "
            "account will stop.",
            social_account_id=account.id,
            data={
                "channel": account.channel,
                "account_id": account.external_id,
                "expires_at": expires_at.isoformat(),
                "fix": fix_hint(account.channel),
            },
        )
    )


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
