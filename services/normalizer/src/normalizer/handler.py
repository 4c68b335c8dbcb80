"""Handle one routed event: normalize it, write it into its tenant's database, report the changes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

import structlog

from normalizer import store
from normalizer.accounts import AccountCache
from omni_common.broker.outcomes import DeadLetter
from omni_common.channels.inbound import (
    Ignored,
    InboundMessage,
    MalformedEvent,
    MessageDeleted,
    MessageEdited,
    NormalizedEvent,
    PlatformError,
    Reaction,
    StatusUpdate,
    WatermarkUpdate,
    normalize,
)
from omni_common.contracts import RoutedEvent, reasons
from omni_common.domain.accounts import receives
from omni_common.errors import TenantNotActive, TenantNotFound

log = structlog.get_logger(__name__)

# Opens a transaction on one tenant's database (the registry's ``driver_transaction``); no default tenant.
TenantTransaction = Callable[[uuid.UUID], AbstractAsyncContextManager[store.Db]]


async def handle_routed_event(event: RoutedEvent, *, begin: TenantTransaction) -> list[store.Change]:
    """Write ``event`` into its tenant's database in one transaction; return what changed.

    Returns only after the commit, so the caller may ack. Redelivery is harmless: every write is
    keyed on the platform's ids, and a repeat changes nothing (and reports nothing).
    """
    try:
        events = normalize(event.channel, event.account_id, event.payload)
    except MalformedEvent as exc:
        raise DeadLetter(reasons.MALFORMED, f"{exc.reason_code}: {exc.detail}") from exc

    try:
        async with begin(event.tenant_id) as session:
            found = _usable(await store.find_account(session, event.channel, event.account_id), event)
            if isinstance(found, DeadLetter):
                raise found
            account = found
            await store.touch_account(session, account)
            changes: list[store.Change] = []
            for item in events:
                changes.extend(await _apply(session, event, account, item))
    except TenantNotFound as exc:
        raise DeadLetter(reasons.UNKNOWN_TENANT, str(exc)) from exc
    except TenantNotActive as exc:
        raise DeadLetter(reasons.TENANT_INACTIVE, str(exc)) from exc
    return changes


async def _apply(
    session: store.Db, event: RoutedEvent, account: store.AccountRow, item: NormalizedEvent
) -> list[store.Change]:
    tenant_id, channel = event.tenant_id, event.channel
    change: store.Change | None
    match item:
        case InboundMessage():
            change = await store.store_message(
                session, tenant_id=tenant_id, channel=channel, account=account, msg=item
            )
        case Reaction():
            change = await store.store_reaction(
                session, tenant_id=tenant_id, channel=channel, account=account, reaction=item
            )
        case MessageDeleted():
            change = await store.mark_deleted(
                session, tenant_id=tenant_id, channel=channel, account=account, event=item
            )
        case MessageEdited():
            change = await store.apply_edit(session, channel=channel, event=item)
        case StatusUpdate():
            change = await store.apply_status(session, channel=channel, event=item)
            if change is None:
                log.info(
                    "status_not_applied", external_message_id=item.external_message_id, status=item.status
                )
        case WatermarkUpdate():
            return await store.apply_watermark(session, channel=channel, account=account, event=item)
        case PlatformError():
            change = await store.record_platform_error(session, account=account, event=item)
        case Ignored():
            log.debug("event_ignored", reason=item.reason)
            change = None
    return [change] if change else []


Outcome = list[store.Change] | Exception

# Opens a connection to one tenant's database in autocommit mode (the registry's ``driver_connection``):
# a batch that is one statement runs without BEGIN and COMMIT, the others inside ``db.transaction()``.
TenantConnection = Callable[[uuid.UUID], AbstractAsyncContextManager[store.Db]]


def transactions(connect: TenantConnection) -> TenantTransaction:
    """``begin`` for :func:`handle_routed_event` from a ``connect``: one transaction per use."""

    @asynccontextmanager
    async def begin(tenant_id: uuid.UUID) -> AsyncIterator[store.Db]:
        async with connect(tenant_id) as db, db.transaction():
            yield db

    return begin


async def handle_routed_batch(
    tenant_id: uuid.UUID,
    events: list[RoutedEvent],
    *,
    connect: TenantConnection,
    accounts: AccountCache | None = None,
) -> list[Outcome]:
    """Write many events of ONE tenant in one transaction; one outcome per event, in order.

    An event that cannot be written (malformed, unknown or disabled account) gets its DeadLetter
    and the others still commit. If the shared transaction fails for any other reason, nothing of
    it is kept and every event is handled again on its own, so one bad event costs only itself.
    Returns only after the commit, so the caller may ack each event.
    """
    if any(e.tenant_id != tenant_id for e in events):
        raise ValueError("a batch must hold the events of one tenant only")  # isolation, not style
    outcomes: list[Outcome] = [[] for _ in events]
    normalized: list[tuple[int, list[NormalizedEvent]]] = []
    for i, event in enumerate(events):
        try:
            normalized.append((i, normalize(event.channel, event.account_id, event.payload)))
        except MalformedEvent as exc:
            outcomes[i] = DeadLetter(reasons.MALFORMED, f"{exc.reason_code}: {exc.detail}")
    if not normalized:
        return outcomes
    try:
        async with connect(tenant_id) as db:
            plan = await _plan(db, tenant_id, events, normalized, outcomes, accounts)
            if plan.one_statement:
                # Most batches under load are a few statuses of accounts seen within the minute: one
                # UPDATE, atomic on its own. BEGIN and COMMIT would be two more round trips.
                await _write(db, plan, outcomes, accounts, tenant_id)
            else:
                async with db.transaction():
                    await _write(db, plan, outcomes, accounts, tenant_id)
    except TenantNotFound as exc:
        return [
            o if isinstance(o, Exception) else DeadLetter(reasons.UNKNOWN_TENANT, str(exc)) for o in outcomes
        ]
    except TenantNotActive as exc:
        return [
            o if isinstance(o, Exception) else DeadLetter(reasons.TENANT_INACTIVE, str(exc)) for o in outcomes
        ]
    except Exception as exc:  # the fallback below reports each event's own outcome
        if accounts is not None:
            accounts.forget(tenant_id)
        log.warning("batch_failed_one_by_one", events=len(normalized), error=f"{type(exc).__name__}: {exc}")
        begin = transactions(connect)
        for i, _ in normalized:
            try:
                outcomes[i] = await handle_routed_event(events[i], begin=begin)
            except Exception as one:  # handed to this event's consumer
                outcomes[i] = one
    return outcomes


@dataclass
class _Plan:
    """What a batch writes, in the order it writes it."""

    accounts: dict[tuple[str, str], store.AccountRow | DeadLetter]
    # New messages go first and together (four statements for all of them).
    fresh: list[tuple[int, store.NewMessage]] = field(default_factory=list)
    # Then the rest (reactions, edits, replies, repeats) one by one, in order, so they find a message
    # of the same batch.
    one_by_one: list[tuple[int, RoutedEvent, store.AccountRow, NormalizedEvent]] = field(default_factory=list)
    # Statuses last, in one statement per channel: an outbound echo in the same batch is then already
    # there for its status, and statuses only move forward, so the order among them is kept.
    statuses: list[tuple[int, RoutedEvent, StatusUpdate]] = field(default_factory=list)

    @property
    def usable(self) -> dict[tuple[str, str], store.AccountRow]:
        return {k: a for k, a in self.accounts.items() if isinstance(a, store.AccountRow)}

    @property
    def one_statement(self) -> bool:
        """Only distinct statuses of one channel, on accounts whose webhook time is already recorded."""
        if self.fresh or self.one_by_one or not self.statuses:
            return False
        if len({event.channel for _, event, _ in self.statuses}) != 1:
            return False
        if len({item.external_message_id for _, _, item in self.statuses}) != len(self.statuses):
            return False
        return all(a.webhook_recorded for a in self.usable.values())


async def _plan(
    db: store.Db,
    tenant_id: uuid.UUID,
    events: list[RoutedEvent],
    normalized: list[tuple[int, list[NormalizedEvent]]],
    outcomes: list[Outcome],
    cache: AccountCache | None,
) -> _Plan:
    # The batch's accounts: from the cache of recent batches, the others in one statement.
    keys = {(events[i].channel, events[i].account_id) for i, _ in normalized}
    found, missing = cache.lookup(tenant_id, keys) if cache is not None else ({}, keys)
    if missing:
        read = await store.find_accounts(db, missing)
        found.update(read)
        if cache is not None:
            cache.remember(tenant_id, read)
    plan = _Plan(accounts={})
    fresh_ids: set[tuple[str, str]] = set()
    for i, items in normalized:
        event = events[i]
        key = (event.channel, event.account_id)
        if key not in plan.accounts:
            plan.accounts[key] = _usable(found.get(key), event)
        account = plan.accounts[key]
        if isinstance(account, DeadLetter):
            outcomes[i] = account
            continue
        for item in items:
            if isinstance(item, StatusUpdate):
                plan.statuses.append((i, event, item))
            elif (
                isinstance(item, InboundMessage)
                and item.reply_to_external_id is None
                and (event.channel, item.external_message_id) not in fresh_ids
            ):
                fresh_ids.add((event.channel, item.external_message_id))
                plan.fresh.append((i, store.NewMessage(event.tenant_id, event.channel, account, item)))
            else:
                plan.one_by_one.append((i, event, account, item))
    return plan


async def _write(
    db: store.Db, plan: _Plan, outcomes: list[Outcome], cache: AccountCache | None, tenant_id: uuid.UUID
) -> None:
    stored = await store.store_messages(db, [m for _, m in plan.fresh])
    for (i, _), change in zip(plan.fresh, stored, strict=True):
        if change is not None:
            _changes(outcomes, i).append(change)
    for i, event, account, item in plan.one_by_one:
        _changes(outcomes, i).extend(await _apply(db, event, account, item))
    seen: set[tuple[str, str]] = set()
    bulk: dict[str, list[StatusUpdate]] = {}
    repeats: list[tuple[int, RoutedEvent, StatusUpdate]] = []
    for i, event, item in plan.statuses:
        key = (event.channel, item.external_message_id)
        if key in seen:
            repeats.append((i, event, item))
        else:
            seen.add(key)
            bulk.setdefault(event.channel, []).append(item)
    applied = {
        channel: await store.apply_statuses(db, channel=channel, events=items)
        for channel, items in bulk.items()
    }
    firsts: set[tuple[str, str]] = set()
    for i, event, item in plan.statuses:
        key = (event.channel, item.external_message_id)
        if key in firsts:
            continue  # a repeat: applied one by one below
        firsts.add(key)
        change = applied[event.channel].get(item.external_message_id)
        if change is not None:
            _changes(outcomes, i).append(change)
        else:
            log.info("status_not_applied", external_message_id=item.external_message_id, status=item.status)
    for i, event, item in repeats:
        account = plan.accounts[(event.channel, event.account_id)]
        assert isinstance(account, store.AccountRow)
        _changes(outcomes, i).extend(await _apply(db, event, account, item))
    usable = plan.usable
    await store.touch_accounts(db, list(usable.values()))
    if cache is not None:
        cache.touched(tenant_id, {k: a for k, a in usable.items() if not a.webhook_recorded})


def _changes(outcomes: list[Outcome], i: int) -> list[store.Change]:
    changes = outcomes[i]
    assert isinstance(changes, list)
    return changes


def _usable(account: store.AccountRow | None, event: RoutedEvent) -> store.AccountRow | DeadLetter:
    """The account if its events may be written; else the dead letter that says why."""
    if account is None:
        # The catalog routed it here but the tenant has no such account: never write.
        return DeadLetter(reasons.ACCOUNT_NOT_IN_TENANT, f"{event.channel} account {event.account_id}")
    if not receives(account.status, account.is_active):
        return DeadLetter(reasons.CHANNEL_DISABLED, f"{event.channel} account {event.account_id} is disabled")
    return account
