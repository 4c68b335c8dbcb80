"""The normalizer's routed-events handler on a message of several events: each event joins its
tenant's batch, a bad one is dead-lettered alone (its mates committed), a transient failure of any
retries the whole message."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fakes import FakeFollowUps, FakeTenants, FakeTenantStore
from test_normalizer_handlers import ACCOUNT, PNID, TENANT, _delivery, batch_of, malformed, status, text

from normalizer.consume import routed_event_handler
from normalizer.handler import Outcome, handle_routed_batch
from normalizer.model import Change
from omni_common.broker.batcher import KeyedBatcher
from omni_common.broker.outcomes import DeadLetterParts
from omni_common.contracts import RoutedEvent, RoutedEventBatch, decode, reasons
from omni_common.errors import DatabaseUnavailable


def _writer(db: FakeTenantStore) -> KeyedBatcher[uuid.UUID, RoutedEvent, list[Change]]:
    """The normalizer's own batcher over ``handle_routed_batch`` on a fake tenant database."""
    tenants = FakeTenants({TENANT: db})

    async def write(tenant_id: uuid.UUID, events: list[RoutedEvent]) -> list[Outcome]:
        return await handle_routed_batch(tenant_id, events, connect=tenants.connect)

    return KeyedBatcher(write, max_items=100, max_wait=0.01)


async def test_a_bad_event_is_dead_lettered_alone_as_a_plain_event_and_its_mates_are_committed() -> None:
    db = FakeTenantStore(accounts={("whatsapp", PNID): ACCOUNT})
    follow = FakeFollowUps()
    bad = malformed()
    good = [text("wamid.b1"), text("wamid.b2")]
    handle = routed_event_handler(_writer(db).submit, follow, follow)

    with pytest.raises(DeadLetterParts) as parked:
        await handle(batch_of(good[0], bad, good[1]), _delivery())

    assert db.stored == {"wamid.b1", "wamid.b2"}
    [part] = parked.value.parts
    assert (part.message_id, part.correlation_id, part.reason) == (
        bad.event_id,
        bad.delivery_id,
        reasons.MALFORMED,
    )
    assert decode(RoutedEvent, part.body) == bad  # `omni dlq replay` sends back an ordinary event
    assert decode(RoutedEventBatch, part.body).events == (bad,)
    assert sorted(n.kind for n, _ in follow.notified) == ["message.created", "message.created"]


async def test_events_of_several_messages_are_written_in_one_tenant_batch() -> None:
    db = FakeTenantStore(accounts={("whatsapp", PNID): ACCOUNT}, outbound={"wamid.o1", "wamid.o2"})
    follow = FakeFollowUps()
    handle = routed_event_handler(_writer(db).submit, follow, follow)

    await asyncio.gather(
        handle(batch_of(text("wamid.m1"), status("wamid.o1", "read")), _delivery()),
        handle(batch_of(status("wamid.o2", "delivered")), _delivery()),
    )

    assert db.calls.count("begin") == 1  # both messages' events in one transaction
    assert db.stored == {"wamid.m1"}


async def test_a_transient_failure_of_one_event_retries_the_whole_message_and_parks_nothing() -> None:
    follow = FakeFollowUps()
    busy, fine = text("wamid.t1"), text("wamid.t2")
    written: list[str] = []

    async def submit(tenant_id: uuid.UUID, event: RoutedEvent) -> list[Change]:
        if event is busy:
            raise DatabaseUnavailable("tenant database full")
        written.append(event.event_id)
        return []

    with pytest.raises(DatabaseUnavailable):  # the consumer sends the message to a delay queue
        await routed_event_handler(submit, follow, follow)(batch_of(fine, busy), _delivery())
    assert written == [fine.event_id]  # committed again on the retry: keyed on Meta's ids, a no-op


async def test_a_dead_letter_beside_a_transient_failure_waits_for_the_retry() -> None:
    follow = FakeFollowUps()
    db = FakeTenantStore(accounts={("whatsapp", PNID): ACCOUNT})
    batcher = _writer(db)
    busy = text("wamid.t3")

    async def submit(tenant_id: uuid.UUID, event: RoutedEvent) -> list[Change]:
        if event is busy:
            raise DatabaseUnavailable("tenant database full")
        return await batcher.submit(tenant_id, event)

    with pytest.raises(DatabaseUnavailable):  # not DeadLetterParts: nothing parked on this attempt
        await routed_event_handler(submit, follow, follow)(batch_of(malformed(), busy), _delivery())


async def test_a_plain_event_whose_write_fails_for_good_is_parked_as_itself() -> None:
    follow = FakeFollowUps()
    db = FakeTenantStore(accounts={})  # its account is not this tenant's
    event = text("wamid.x", account="999")

    with pytest.raises(DeadLetterParts) as parked:
        await routed_event_handler(_writer(db).submit, follow, follow)(batch_of(event), _delivery())

    [part] = parked.value.parts
    assert (part.message_id, part.reason) == (event.event_id, reasons.ACCOUNT_NOT_IN_TENANT)
    assert db.stored == set()
