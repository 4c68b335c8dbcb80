"""Write routed events into their tenant's database: one at a time, or a batch of one tenant's events.

Plain async code over ``TenantWrites`` (PostgreSQL in ``store.py``, a fake in the unit tests). Both
return only after the commit, so the caller may ack; redelivery is harmless, every write being keyed
on the platform's ids (a repeat changes nothing and reports nothing new).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import structlog

from normalizer.accounts import AccountCache
from normalizer.model import AccountKey, AccountRow, Change, NewMessage
from normalizer.plan import BatchPlan, plan_batch, usable
from omni_common.broker.outcomes import DeadLetter
from omni_common.channels.inbound import MalformedEvent, NormalizedEvent, StatusUpdate, normalize
from omni_common.contracts import RoutedEvent, reasons
from omni_common.db.trouble import DATABASE_TROUBLE
from omni_common.domain.channels import Channel
from omni_common.errors import DatabaseUnavailable, TenantNotActive, TenantNotFound

log = structlog.get_logger(__name__)

# One event's outcome: what it changed, or the exception (DeadLetter, Retry, any) for it alone.
Outcome = list[Change] | Exception


class TenantWrites(Protocol):
    """What the handlers need from one tenant's database (one connection; ``store.TenantStore``)."""

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...

    async def find_accounts(self, keys: set[AccountKey]) -> dict[AccountKey, AccountRow]: ...

    async def touch_accounts(self, accounts: list[AccountRow]) -> None: ...

    async def store_messages(self, items: list[NewMessage]) -> list[Change | None]: ...

    async def apply_statuses(self, channel: Channel, events: list[StatusUpdate]) -> dict[str, Change]: ...

    async def apply(
        self, tenant_id: uuid.UUID, channel: Channel, account: AccountRow, item: NormalizedEvent
    ) -> list[Change]: ...


# Opens one tenant's database: in autocommit for a batch (a batch that is one statement runs without
# BEGIN and COMMIT, the others inside ``transaction()``), in a transaction for one event at a time.
OpenTenant = Callable[[uuid.UUID], AbstractAsyncContextManager[TenantWrites]]


async def handle_routed_event(event: RoutedEvent, *, begin: OpenTenant) -> list[Change]:
    """Write ``event`` into its tenant's database in one transaction (``begin``); return what changed."""
    try:
        items = normalize(event.channel, event.account_id, event.payload)
    except MalformedEvent as exc:
        raise DeadLetter(reasons.MALFORMED, f"{exc.reason_code}: {exc.detail}") from exc
    key = (event.channel, event.account_id)
    try:
        async with begin(event.tenant_id) as db:
            account = usable((await db.find_accounts({key})).get(key), event)
            if isinstance(account, DeadLetter):
                raise account
            await db.touch_accounts([account])
            changes: list[Change] = []
            for item in items:
                changes.extend(await db.apply(event.tenant_id, event.channel, account, item))
    except TenantNotFound as exc:
        raise DeadLetter(reasons.UNKNOWN_TENANT, str(exc)) from exc
    except TenantNotActive as exc:
        raise DeadLetter(reasons.TENANT_INACTIVE, str(exc)) from exc
    return changes


def transactions(connect: OpenTenant) -> OpenTenant:
    """``begin`` for :func:`handle_routed_event` from a ``connect``: one transaction per use."""

    @asynccontextmanager
    async def begin(tenant_id: uuid.UUID) -> AsyncIterator[TenantWrites]:
        async with connect(tenant_id) as db, db.transaction():
            yield db

    return begin


async def handle_routed_batch(
    tenant_id: uuid.UUID,
    events: list[RoutedEvent],
    *,
    connect: OpenTenant,
    accounts: AccountCache | None = None,
) -> list[Outcome]:
    """Write many events of ONE tenant in one transaction; one outcome per event, in order.

    An event that cannot be written (malformed, unknown or disabled account) gets its DeadLetter
    and the others still commit. If the shared transaction fails for any other reason, nothing of
    it is kept and every event is handled again on its own, so one bad event costs only itself.
    """
    if any(e.tenant_id != tenant_id for e in events):
        raise ValueError("a batch must hold the events of one tenant only")  # isolation, not style
    normalized: dict[int, list[NormalizedEvent]] = {}
    malformed: dict[int, Exception] = {}
    for i, event in enumerate(events):
        try:
            normalized[i] = normalize(event.channel, event.account_id, event.payload)
        except MalformedEvent as exc:
            malformed[i] = DeadLetter(reasons.MALFORMED, f"{exc.reason_code}: {exc.detail}")
    if not normalized:
        return _outcomes(len(events), malformed)
    try:
        async with connect(tenant_id) as db:
            keys: set[AccountKey] = {(events[i].channel, events[i].account_id) for i in normalized}
            plan = plan_batch(events, normalized, await _accounts(db, tenant_id, keys, accounts))
            if plan.one_statement:
                changes = await _write(db, plan)
            else:
                async with db.transaction():
                    changes = await _write(db, plan)
    except TenantNotFound as exc:
        unknown = {i: DeadLetter(reasons.UNKNOWN_TENANT, str(exc)) for i in normalized}
        return _outcomes(len(events), malformed, unknown)
    except TenantNotActive as exc:
        inactive = {i: DeadLetter(reasons.TENANT_INACTIVE, str(exc)) for i in normalized}
        return _outcomes(len(events), malformed, inactive)
    except DATABASE_TROUBLE as exc:
        # The database, not an event: one by one, every event would wait for it in turn. All of them
        # go back through the delay queues together (tenant_db_unavailable).
        if accounts is not None:
            accounts.forget(tenant_id)
        busy = exc if isinstance(exc, DatabaseUnavailable) else DatabaseUnavailable(f"connection lost: {exc}")
        log.warning("batch_deferred_database_unavailable", events=len(normalized), error=str(exc)[:200])
        return _outcomes(len(events), malformed, dict.fromkeys(normalized, busy))
    except Exception as exc:  # the fallback below reports each event's own outcome
        if accounts is not None:
            accounts.forget(tenant_id)
        log.warning("batch_failed_one_by_one", events=len(normalized), error=f"{type(exc).__name__}: {exc}")
        return _outcomes(len(events), malformed, await _one_by_one(events, normalized, connect))
    if accounts is not None:  # their last_webhook_at is committed: later batches need not set it again
        accounts.touched(tenant_id, {k: a for k, a in plan.accounts.items() if not a.webhook_recorded})
    return _outcomes(len(events), malformed, plan.refused, changes)


async def _accounts(
    db: TenantWrites, tenant_id: uuid.UUID, keys: set[AccountKey], cache: AccountCache | None
) -> dict[AccountKey, AccountRow]:
    """The batch's accounts: from the cache of recent batches, the others in one statement."""
    found, missing = cache.lookup(tenant_id, keys) if cache is not None else ({}, keys)
    if missing:
        read = await db.find_accounts(missing)
        found.update(read)
        if cache is not None:
            cache.remember(tenant_id, read)
    return found


async def _write(db: TenantWrites, plan: BatchPlan) -> dict[int, list[Change]]:
    """Run the plan's writes in its order; the changes by event position."""
    changes: dict[int, list[Change]] = {}
    stored = await db.store_messages([m for _, m in plan.fresh])
    for (i, _), change in zip(plan.fresh, stored, strict=True):
        if change is not None:
            changes.setdefault(i, []).append(change)
    for step in plan.one_by_one:
        changes.setdefault(step.position, []).extend(
            await db.apply(step.event.tenant_id, step.event.channel, step.account, step.item)
        )
    for channel, statuses in plan.statuses.items():
        applied = await db.apply_statuses(channel, [item for _, item in statuses])
        for i, item in statuses:
            change = applied.get(item.external_message_id)
            if change is not None:
                changes.setdefault(i, []).append(change)
            else:
                log.info(
                    "status_not_applied", external_message_id=item.external_message_id, status=item.status
                )
    for step in plan.status_repeats:
        changes.setdefault(step.position, []).extend(
            await db.apply(step.event.tenant_id, step.event.channel, step.account, step.item)
        )
    await db.touch_accounts(list(plan.accounts.values()))
    return changes


async def _one_by_one(
    events: list[RoutedEvent], normalized: Mapping[int, object], connect: OpenTenant
) -> dict[int, Outcome]:
    """Each event of a failed batch on its own, in a transaction of its own."""
    begin = transactions(connect)
    outcomes: dict[int, Outcome] = {}
    for i in normalized:
        try:
            outcomes[i] = await handle_routed_event(events[i], begin=begin)
        except Exception as exc:  # handed to this event's consumer
            outcomes[i] = exc
    return outcomes


def _outcomes(count: int, *parts: Mapping[int, Outcome]) -> list[Outcome]:
    """One outcome per event position: the first part that has one, else "nothing changed"."""
    result: list[Outcome] = []
    for i in range(count):
        result.append(next((part[i] for part in parts if i in part), []))
    return result
