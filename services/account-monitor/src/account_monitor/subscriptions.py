"""Re-checking our app's webhook subscriptions, and re-subscribing what Meta dropped.

Meta unsubscribes an app from a Page after about an hour of failed deliveries, silently; a WABA's
subscription can be removed in Business Settings. Each working account is checked when its last
check is older than ``every`` (one ``GET subscribed_apps`` per Page or WABA, once per pass even when
several accounts share it). A missing subscription, or a Page's without the messaging fields, is
subscribed again (``POST``, read back) and the owner told once; when that fails the owner is told
what to do (one open notice), and the next check tries again.

The object: a Page for Messenger; for Instagram the Page its token acts as (``GET /me``: Instagram
messaging webhooks come through the Page's subscription); the WABA for a WhatsApp number.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from account_monitor.notices import (
    LOST_KIND,
    AccountLabel,
    lost_notice,
    open_notice,
    resolve,
    restored_notice,
)
from omni_common.crypto import KeyRing
from omni_common.db.tenant_models import SocialAccount
from omni_common.domain.subscriptions import PAGE_FIELDS, check_due, subscription_ok
from omni_common.errors import DatabaseUnavailable, DecryptionError
from omni_common.graph import GraphClient, GraphError
from omni_common.graph.lifecycle import subscribe, subscribed_apps
from omni_common.tenancy.accounts import read_token
from omni_common.tenancy.audit import Actor, record

log = structlog.get_logger(__name__)

Begin = Callable[[uuid.UUID], AbstractAsyncContextManager[AsyncSession]]
ACTOR = Actor.system("account-monitor")


@dataclass(frozen=True)
class SubscriptionCheck:
    """What the checks need: the Graph client, our app's id, and how often to check an account."""

    graph: GraphClient
    app_id: str
    every: timedelta


@dataclass(frozen=True)
class Watched:
    """An account whose token works, and when its subscription was last checked."""

    label: AccountLabel
    waba_id: str | None
    checked_at: datetime | None


async def check_subscriptions(
    sub: SubscriptionCheck,
    begin: Begin,
    keyring: KeyRing,
    tenant_id: uuid.UUID,
    accounts: list[Watched],
    clock: Callable[[], datetime],
) -> Counter[str]:
    """Check the due accounts of one tenant; outcomes counted (``subscription_ok``, ``resubscribed``…)."""
    outcomes: Counter[str] = Counter()
    seen: set[str] = set()  # objects checked in this pass (a Page behind Messenger and Instagram)
    for account in accounts:
        if not check_due(account.checked_at, clock(), sub.every):
            continue
        bound = log.bind(
            tenant_id=str(tenant_id), channel=account.label.channel, account_id=account.label.external_id
        )
        try:
            outcomes[await _check_one(sub, begin, keyring, tenant_id, account, seen, clock, bound)] += 1
        except DatabaseUnavailable:
            raise
        except Exception:  # one broken account must not stop the others
            bound.exception("subscription_check_crashed")
            outcomes["subscription_error"] += 1
    return outcomes


async def _check_one(
    sub: SubscriptionCheck,
    begin: Begin,
    keyring: KeyRing,
    tenant_id: uuid.UUID,
    account: Watched,
    seen: set[str],
    clock: Callable[[], datetime],
    bound: structlog.BoundLogger,
) -> str:
    label = account.label
    try:
        async with begin(tenant_id) as session:
            token = await read_token(session, keyring=keyring, tenant_id=tenant_id, account_id=label.id)
    except DecryptionError:
        return "subscription_error"
    try:
        target = await _object(sub.graph, account, token)
        if target is None:
            return "subscription_unknown"
        object_id, kind = target
        if object_id in seen:
            await _mark(begin, tenant_id, label.id, clock())
            return "subscription_ok"
        seen.add(object_id)
        listing = await subscribed_apps(sub.graph, object_id, token)
    except GraphError as exc:
        # Not a verdict on the subscription (Meta unreachable, token refused): the next pass asks again.
        bound.warning("subscription_check_failed", error_class=exc.error_class.value, code=exc.code)
        return "subscription_check_failed"
    if subscription_ok(kind, listing, sub.app_id):
        async with begin(tenant_id) as session:
            await _mark_in(session, label.id, clock())
            await resolve(session, label.id, LOST_KIND, clock())
        return "subscription_ok"
    bound.warning("subscription_lapsed", object=kind)
    failure = await _subscribe_again(sub, object_id, kind, token)
    now = clock()
    async with begin(tenant_id) as session:
        await _mark_in(session, label.id, now)
        if failure is None:
            session.add(restored_notice(label, label.name or label.external_id, now))
            await resolve(session, label.id, LOST_KIND, now)
            await record(
                session,
                ACTOR,
                "account.resubscribed",
                target_type="social_account",
                target_id=label.id,
                details={"channel": label.channel, "account_id": label.external_id, "object": kind},
            )
            bound.info("subscription_restored", object=kind)
            return "resubscribed"
        if not await open_notice(session, label.id, LOST_KIND):
            session.add(lost_notice(label, label.name or label.external_id, failure))
        bound.warning("subscription_restore_failed", object=kind)
        return "resubscribe_failed"


async def _object(graph: GraphClient, account: Watched, token: str) -> tuple[str, str] | None:
    """(object id, "page" | "waba") whose subscription carries this account's webhooks."""
    channel = account.label.channel
    if channel == "whatsapp":
        return (account.waba_id, "waba") if account.waba_id else None
    if channel == "facebook":
        return account.label.external_id, "page"
    page = await graph.get_me_id(token)  # an Instagram account's token is its Page's
    return (page, "page") if page else None


async def _subscribe_again(sub: SubscriptionCheck, object_id: str, kind: str, token: str) -> str | None:
    """Subscribe and read back; None when it holds, else why not (plain words, Meta's reason)."""
    try:
        await subscribe(sub.graph, object_id, token, PAGE_FIELDS if kind == "page" else ())
        listing = await subscribed_apps(sub.graph, object_id, token)
    except GraphError as exc:
        code = f" (code {exc.code})" if exc.code is not None else ""
        return f"Meta refused: {(exc.message or 'no reason given')[:200]}{code}"
    if subscription_ok(kind, listing, sub.app_id):
        return None
    return "Meta accepted the request but does not list the subscription"


async def _mark(begin: Begin, tenant_id: uuid.UUID, account_id: uuid.UUID, at: datetime) -> None:
    async with begin(tenant_id) as session:
        await _mark_in(session, account_id, at)


async def _mark_in(session: AsyncSession, account_id: uuid.UUID, at: datetime) -> None:
    await session.execute(
        update(SocialAccount).where(SocialAccount.id == account_id).values(subscription_checked_at=at)
    )
