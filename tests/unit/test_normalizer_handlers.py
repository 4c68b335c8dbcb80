"""The normalizer's handlers on fakes: what a batch writes and in which order, which events are
dead-lettered, and what follows a commit (fetch requests, live notifications)."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from fakes import FakeFollowUps, FakeTenants, FakeTenantStore, Poisoned

from normalizer.accounts import AccountCache
from normalizer.consume import after_commit, routed_event_handler
from normalizer.handler import handle_routed_batch, handle_routed_event, transactions
from normalizer.model import AccountRow, Change
from omni_common.broker.consumer import Delivery
from omni_common.broker.outcomes import DeadLetter
from omni_common.channels import samples
from omni_common.channels.inbound import split_delivery
from omni_common.contracts import RoutedEvent, RoutedEventBatch, reasons

TENANT = uuid.uuid4()
PNID, WABA, CUSTOMER = "106540352242922", "102290129340398", "4915112345678"
ACCOUNT = AccountRow(uuid.uuid4(), "active", True)
_ids = itertools.count(1)


def _event(delivery: dict[str, Any], tenant_id: uuid.UUID = TENANT) -> RoutedEvent:
    [item] = split_delivery("whatsapp", orjson.dumps(delivery)).items
    n = next(_ids)
    return RoutedEvent(
        event_id=f"d{n}:{item.index}",
        delivery_id=f"d{n}",
        tenant_id=tenant_id,
        channel="whatsapp",
        account_id=item.account_id,
        received_at=datetime.now(UTC),
        payload=item.payload,
    )


def text(wamid: str, *, account: str = PNID, reply_to: str | None = None) -> RoutedEvent:
    delivery = samples.whatsapp_text(
        phone_number_id=account,
        waba_id=WABA,
        wa_id=CUSTOMER,
        name="Jürgen",
        text="¿Mesa para dos?",
        message_id=wamid,
        timestamp=1_760_000_000,
    )
    if reply_to is not None:
        delivery["entry"][0]["changes"][0]["value"]["messages"][0]["context"] = {"id": reply_to}
    return _event(delivery)


def status(wamid: str, state: str) -> RoutedEvent:
    return _event(
        samples.whatsapp_status(
            phone_number_id=PNID,
            waba_id=WABA,
            message_id=wamid,
            status=state,
            recipient=CUSTOMER,
            timestamp=1_760_000_002,
        )
    )


def reaction(target: str) -> RoutedEvent:
    return _event(
        samples.whatsapp_reaction(
            phone_number_id=PNID,
            waba_id=WABA,
            wa_id=CUSTOMER,
            name="Jürgen",
            target_message_id=target,
            emoji="👍",
            message_id=f"wamid.r{next(_ids)}",
            timestamp=1_760_000_001,
        )
    )


def malformed() -> RoutedEvent:
    event = text("wamid.bad")
    return event.model_copy(update={"payload": {**event.payload, "value": {"messages": "not a list"}}})


def batch_of(*events: RoutedEvent) -> RoutedEventBatch:
    """The message a router sends for ``events`` (one tenant, one channel)."""
    return RoutedEventBatch(tenant_id=events[0].tenant_id, channel=events[0].channel, events=events)


def store(**accounts: AccountRow) -> FakeTenantStore:
    return FakeTenantStore(accounts={("whatsapp", k): a for k, a in (accounts or {PNID: ACCOUNT}).items()})


async def batch(
    db: FakeTenantStore, events: list[RoutedEvent], cache: AccountCache | None = None
) -> list[Any]:
    return await handle_routed_batch(
        TENANT, events, connect=FakeTenants({TENANT: db}).connect, accounts=cache
    )


def kinds(outcome: Any) -> list[str]:
    assert isinstance(outcome, list), outcome
    return [c.kind for c in outcome]


class TestWhatABatchWrites:
    async def test_new_messages_go_together_then_the_rest_then_statuses_in_one_statement(self) -> None:
        db = store()
        db.outbound.add("wamid.out")

        outcomes = await batch(
            db, [text("wamid.a"), status("wamid.out", "delivered"), reaction("wamid.a"), text("wamid.b")]
        )

        assert db.calls == [
            "find_accounts",
            "begin",
            "store_messages:2",
            "apply:Reaction",
            "apply_statuses:whatsapp:1",
            "touch_accounts",
            "commit",
        ]
        assert [kinds(o) for o in outcomes] == [
            ["message.created"],
            ["message.status"],
            ["message.updated"],
            ["message.created"],
        ]
        assert db.stored == {"wamid.a", "wamid.b"}

    async def test_a_reply_and_a_repeat_of_the_batch_are_written_one_by_one_after_the_new_ones(self) -> None:
        db = store()

        outcomes = await batch(
            db, [text("wamid.reply", reply_to="wamid.a"), text("wamid.a"), text("wamid.a")]
        )

        assert db.calls[2:5] == ["store_messages:1", "apply:InboundMessage", "apply:InboundMessage"]
        assert [kinds(o) for o in outcomes] == [["message.created"], ["message.created"], []]

    async def test_a_second_status_of_one_message_follows_the_bulk_statement(self) -> None:
        db = store()
        db.outbound.add("wamid.out")

        outcomes = await batch(db, [status("wamid.out", "delivered"), status("wamid.out", "read")])

        assert db.calls[2:4] == ["apply_statuses:whatsapp:1", "apply:StatusUpdate"]
        assert [[c.data["status"] for c in o] for o in outcomes] == [["delivered"], ["read"]]

    async def test_statuses_on_accounts_recorded_within_the_minute_are_one_statement_without_begin(
        self,
    ) -> None:
        db = store(**{PNID: AccountRow(ACCOUNT.id, "active", True, webhook_recorded=True)})

        await batch(db, [status("wamid.x", "delivered"), status("wamid.y", "read")])

        assert db.calls == ["find_accounts", "apply_statuses:whatsapp:2"]

    async def test_accounts_found_by_a_recent_batch_are_not_read_again(self) -> None:
        db, cache = store(), AccountCache(ttl=60.0)

        await batch(db, [text("wamid.a")], cache)
        db.calls.clear()
        await batch(db, [status("wamid.x", "read")], cache)

        assert db.calls == ["apply_statuses:whatsapp:1"]  # found and touched by the first batch


class TestWhatABatchDeadLetters:
    async def test_a_malformed_event_is_dead_lettered_and_the_others_commit(self) -> None:
        db = store()

        outcomes = await batch(db, [text("wamid.a"), malformed()])

        assert kinds(outcomes[0]) == ["message.created"]
        assert isinstance(outcomes[1], DeadLetter)
        assert outcomes[1].reason == reasons.MALFORMED
        assert db.stored == {"wamid.a"}

    @pytest.mark.parametrize(
        ("accounts", "reason"),
        [
            ({}, reasons.ACCOUNT_NOT_IN_TENANT),
            ({"999": AccountRow(uuid.uuid4(), "disabled", True)}, reasons.CHANNEL_DISABLED),
            ({"999": AccountRow(uuid.uuid4(), "active", False)}, reasons.CHANNEL_DISABLED),
        ],
    )
    async def test_an_event_of_an_account_that_may_not_receive_is_dead_lettered_alone(
        self, accounts: dict[str, AccountRow], reason: str
    ) -> None:
        db = store(**{PNID: ACCOUNT}, **accounts)

        outcomes = await batch(db, [text("wamid.stray", account="999"), text("wamid.a")])

        assert isinstance(outcomes[0], DeadLetter)
        assert outcomes[0].reason == reason
        assert kinds(outcomes[1]) == ["message.created"]

    async def test_a_needs_reauth_account_still_receives(self) -> None:
        db = store(**{PNID: AccountRow(ACCOUNT.id, "needs_reauth", True)})

        outcomes = await batch(db, [text("wamid.a")])

        assert kinds(outcomes[0]) == ["message.created"]

    async def test_an_unknown_tenant_dead_letters_every_event(self) -> None:
        outcomes = await handle_routed_batch(
            TENANT, [text("wamid.a"), malformed()], connect=FakeTenants().connect
        )

        assert [o.reason for o in outcomes] == [reasons.UNKNOWN_TENANT, reasons.MALFORMED]

    async def test_a_suspended_tenant_dead_letters_every_event(self) -> None:
        tenants = FakeTenants({TENANT: store()}, inactive={TENANT})

        outcomes = await handle_routed_batch(TENANT, [text("wamid.a")], connect=tenants.connect)

        assert [o.reason for o in outcomes] == [reasons.TENANT_INACTIVE]

    async def test_events_of_another_tenant_are_refused_before_anything_is_written(self) -> None:
        db = store()

        with pytest.raises(ValueError, match="one tenant"):
            await batch(db, [text("wamid.a"), text("wamid.b").model_copy(update={"tenant_id": uuid.uuid4()})])

        assert db.calls == []


class TestAFailingBatch:
    async def test_is_rolled_back_and_each_event_is_written_again_on_its_own(self) -> None:
        db = store()
        db.poison.add("wamid.nul")

        outcomes = await batch(db, [text("wamid.good"), text("wamid.nul")])

        assert db.calls[:5] == ["find_accounts", "begin", "store_messages:2", "rollback", "begin"]
        assert kinds(outcomes[0]) == ["message.created"]
        assert isinstance(outcomes[1], Poisoned)  # retried through the delay queues, not dead-lettered
        assert db.stored == {"wamid.good"}

    async def test_forgets_the_tenants_cached_accounts(self) -> None:
        db, cache = store(), AccountCache(ttl=60.0)
        await batch(db, [text("wamid.a")], cache)
        db.poison.add("wamid.nul")

        await batch(db, [text("wamid.nul")], cache)

        assert cache.lookup(TENANT, {("whatsapp", PNID)})[0] == {}


class TestOneEvent:
    async def test_is_written_in_a_transaction_of_its_own(self) -> None:
        db = store()

        changes = await handle_routed_event(
            text("wamid.a"), begin=transactions(FakeTenants({TENANT: db}).connect)
        )

        assert [c.kind for c in changes] == ["message.created"]
        assert db.calls == ["begin", "find_accounts", "touch_accounts", "apply:InboundMessage", "commit"]

    async def test_of_an_unknown_account_is_dead_lettered(self) -> None:
        begin = transactions(FakeTenants({TENANT: store()}).connect)

        with pytest.raises(DeadLetter) as refused:
            await handle_routed_event(text("wamid.a", account="999"), begin=begin)

        assert refused.value.reason == reasons.ACCOUNT_NOT_IN_TENANT


def _delivery(correlation_id: str = "corr-1") -> Delivery:
    return Delivery(
        body=b"",
        message_id="m",
        correlation_id=correlation_id,
        routing_key="event.routed.whatsapp",
        headers={},
        attempt=1,
        redelivered=False,
    )


class TestAfterTheCommit:
    async def test_a_new_message_asks_for_its_fetches_and_is_announced(self) -> None:
        event, follow = text("wamid.a"), FakeFollowUps()
        created = Change(
            "message.created", uuid.uuid4(), uuid.uuid4(), {"kind": "image"}, ("media", "profile")
        )

        await after_commit(event, [created], correlation_id="c", enrich=follow, notifier=follow)

        assert [(r.message_id, r.what, r.account_id) for r in follow.requested] == [
            (created.message_id, "media", PNID),
            (created.message_id, "profile", PNID),
        ]
        [(note, key)] = follow.notified
        assert (note.kind, note.tenant_id, note.message_id) == ("message.created", TENANT, created.message_id)
        assert key == f"{event.event_id}:{created.message_id}"

    async def test_a_repeat_asks_again_for_pending_fetches_but_is_not_announced(self) -> None:
        follow = FakeFollowUps()
        repeat = Change("message.existing", uuid.uuid4(), uuid.uuid4(), {}, ("media",))

        await after_commit(text("wamid.a"), [repeat], correlation_id=None, enrich=follow, notifier=follow)

        assert [r.what for r in follow.requested] == ["media"]
        assert follow.notified == []

    async def test_the_routed_event_handler_writes_through_the_batch_then_follows_up(self) -> None:
        follow, submitted = FakeFollowUps(), []
        status_change = Change("message.status", uuid.uuid4(), uuid.uuid4(), {"status": "read"})

        async def submit(tenant_id: uuid.UUID, event: RoutedEvent) -> list[Change]:
            submitted.append((tenant_id, event.event_id))
            return [status_change]

        event = status("wamid.out", "read")
        await routed_event_handler(submit, follow, follow)(batch_of(event), _delivery())

        assert submitted == [(TENANT, event.event_id)]
        assert follow.requested == []
        assert [(n.kind, n.data) for n, _ in follow.notified] == [("message.status", {"status": "read"})]
