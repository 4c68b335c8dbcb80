"""The tenant-router's handler on fakes: which items of a delivery go where, and which are refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from fakes import FakeRouting, Route

from omni_common.broker.consumer import Delivery
from omni_common.broker.outcomes import DeadLetter
from omni_common.channels import samples
from omni_common.contracts import RawWebhook, RawWebhookBatch, reasons
from tenant_router.batches import BatchLimits
from tenant_router.handler import handle_raw_webhook, only_items

TENANT, OTHER = uuid.uuid4(), uuid.uuid4()
WABA = "200000000000001"


def _text(phone_number_id: str, n: int = 1) -> dict[str, Any]:
    return samples.whatsapp_text(
        phone_number_id=phone_number_id,
        waba_id=WABA,
        wa_id="4915100000001",
        name="Ana",
        text="hola",
        message_id=f"wamid.{phone_number_id}.{n}",
        timestamp=1_760_000_000,
    )


def _raw(*deliveries: dict[str, Any], verified: bool = True, body: bytes | None = None) -> RawWebhook:
    """One delivery holding the entries of ``deliveries`` (Meta batches several in one POST)."""
    entries = [entry for d in deliveries for entry in d["entry"]]
    document = {"object": "whatsapp_business_account", "entry": entries}
    return RawWebhook(
        delivery_id="d1",
        channel="whatsapp",
        received_at=datetime.now(UTC),
        signature_verified=verified,
        body=body if body is not None else orjson.dumps(document),
    )


async def _route(fake: FakeRouting, raw: RawWebhook, only: frozenset[str] | None = None) -> None:
    """Route one delivery as the handler does, with its emits on the fake."""
    headers = {"x-omni-only-items": ",".join(sorted(only))} if only else None
    await _handle(fake, RawWebhookBatch(deliveries=(raw,)), headers)


class TestRouteDelivery:
    async def test_routes_each_entry_to_the_tenant_of_its_account(self) -> None:
        fake = FakeRouting({("whatsapp", "101"): Route(TENANT), ("whatsapp", "102"): Route(OTHER)})

        await _route(fake, _raw(_text("101"), _text("102")))

        assert [(e.tenant_id, e.account_id, e.event_id) for e in fake.routed] == [
            (TENANT, "101", "d1:e0.c0"),
            (OTHER, "102", "d1:e1.c0"),
        ]
        assert fake.refused == []

    async def test_refuses_only_the_entry_no_tenant_connected(self) -> None:
        fake = FakeRouting({("whatsapp", "101"): Route(TENANT)})

        await _route(fake, _raw(_text("101"), _text("999")))

        assert [e.account_id for e in fake.routed] == ["101"]
        assert fake.refused == [("e1.c0", reasons.UNMAPPED_ACCOUNT, "999")]

    @pytest.mark.parametrize(
        ("route", "reason"),
        [
            (Route(TENANT, tenant_status="suspended"), reasons.TENANT_INACTIVE),
            (Route(TENANT, is_enabled=False), reasons.CHANNEL_DISABLED),
        ],
    )
    async def test_refuses_an_inactive_tenant_or_a_disabled_account(self, route: Route, reason: str) -> None:
        fake = FakeRouting({("whatsapp", "101"): route})

        await _route(fake, _raw(_text("101")))

        assert fake.routed == []
        assert fake.refused == [("e0.c0", reason, "101")]

    async def test_a_replayed_dead_letter_routes_only_the_items_it_names(self) -> None:
        fake = FakeRouting({("whatsapp", "101"): Route(TENANT), ("whatsapp", "102"): Route(TENANT)})

        await _route(fake, _raw(_text("101"), _text("102")), only=frozenset({"e1.c0"}))

        assert [e.account_id for e in fake.routed] == ["102"]

    async def test_dead_letters_a_delivery_whose_signature_was_not_verified(self) -> None:
        fake = FakeRouting({("whatsapp", "101"): Route(TENANT)})

        with pytest.raises(DeadLetter) as refused:
            await _route(fake, _raw(_text("101"), verified=False))

        assert refused.value.reason == reasons.UNVERIFIED
        assert fake.routed == []

    async def test_dead_letters_a_body_that_is_not_json(self) -> None:
        with pytest.raises(DeadLetter) as refused:
            await _route(FakeRouting(), _raw(body=b"{not json"))

        assert refused.value.reason == reasons.MALFORMED


def test_the_only_items_header_lists_positions() -> None:
    assert only_items({"x-omni-only-items": "e0.c0,e2.c1"}) == frozenset({"e0.c0", "e2.c1"})
    assert only_items({}) is None


def _delivery(headers: dict[str, Any] | None = None) -> Delivery:
    return Delivery(
        body=b"",
        message_id="m1",
        correlation_id="m1-corr",
        routing_key="",
        headers=headers or {},
        attempt=1,
        redelivered=False,
    )


def _named(raw: RawWebhook, delivery_id: str) -> RawWebhook:
    return raw.model_copy(update={"delivery_id": delivery_id})


async def _handle(
    fake: FakeRouting,
    batch: RawWebhookBatch,
    headers: dict[str, Any] | None = None,
    limits: BatchLimits = BatchLimits(),
) -> None:
    await handle_raw_webhook(
        batch,
        _delivery(headers),
        resolve=fake.resolve,
        emit_routed=fake.emit_routed,
        emit_refused=fake.emit_refused,
        emit_dead=fake.emit_dead,
        limits=limits,
    )


class TestSharedMessage:
    """Several webhooks in one message (the ingress's shared windows): each handled on its own."""

    async def test_each_delivery_is_routed_under_its_own_ids(self) -> None:
        fake = FakeRouting({("whatsapp", "101"): Route(TENANT), ("whatsapp", "102"): Route(OTHER)})
        batch = RawWebhookBatch(deliveries=(_named(_raw(_text("101")), "a"), _named(_raw(_text("102")), "b")))

        await _handle(fake, batch)

        assert sorted((e.delivery_id, e.event_id, e.tenant_id) for e in fake.routed) == [
            ("a", "a:e0.c0", TENANT),
            ("b", "b:e0.c0", OTHER),
        ]
        assert fake.dead == []

    async def test_an_unreadable_delivery_is_dead_lettered_alone_and_its_mates_routed(self) -> None:
        fake = FakeRouting({("whatsapp", "101"): Route(TENANT)})
        batch = RawWebhookBatch(
            deliveries=(
                _named(_raw(_text("101")), "good"),
                _named(_raw(body=b"{not json"), "garbage"),
                _named(_raw(_text("101", 2), verified=False), "unverified"),
                _named(_raw(_text("999")), "unmapped"),
            )
        )

        await _handle(fake, batch)  # no exception: the message is acked

        assert [e.delivery_id for e in fake.routed] == ["good"]
        assert sorted(fake.dead) == [("garbage", reasons.MALFORMED), ("unverified", reasons.UNVERIFIED)]
        assert fake.refused == [("e0.c0", reasons.UNMAPPED_ACCOUNT, "999")]  # per item, as before

    async def test_a_transient_failure_fails_the_whole_message_and_dead_letters_nothing_yet(self) -> None:
        class CatalogDown(Exception):
            pass

        fake = FakeRouting({("whatsapp", "101"): Route(TENANT)})

        async def resolve(channel: str, account_id: str) -> Route | None:
            if account_id == "102":
                raise CatalogDown
            return await fake.resolve(channel, account_id)

        batch = RawWebhookBatch(
            deliveries=(_named(_raw(_text("102")), "a"), _named(_raw(body=b"{not json"), "b"))
        )
        with pytest.raises(CatalogDown):  # retried as a whole; the dead letter is written on the retry
            await handle_raw_webhook(
                batch,
                _delivery(),
                resolve=resolve,
                emit_routed=fake.emit_routed,
                emit_refused=fake.emit_refused,
                emit_dead=fake.emit_dead,
                limits=BatchLimits(),
            )
        assert fake.dead == []

    async def test_a_message_of_one_delivery_behaves_as_before(self) -> None:
        fake = FakeRouting({("whatsapp", "101"): Route(TENANT), ("whatsapp", "102"): Route(TENANT)})
        alone = RawWebhookBatch(deliveries=(_raw(_text("101"), _text("102")),))

        await _handle(fake, alone, {"x-omni-only-items": "e1.c0"})  # a replayed dead letter
        assert [e.account_id for e in fake.routed] == ["102"]

        with pytest.raises(DeadLetter) as refused:  # the message itself is dead-lettered, as today
            await _handle(fake, RawWebhookBatch(deliveries=(_raw(body=b"{not json"),)))
        assert refused.value.reason == reasons.MALFORMED
        assert fake.dead == []


class TestOneMessagePerTenant:
    """The routed events of one incoming message go out as one message per tenant (and channel)."""

    async def test_a_mixed_tenant_shared_message_yields_one_message_per_tenant(self) -> None:
        fake = FakeRouting({("whatsapp", "101"): Route(TENANT), ("whatsapp", "102"): Route(OTHER)})
        batch = RawWebhookBatch(
            deliveries=(
                _named(_raw(_text("101", 1), _text("102", 1)), "a"),
                _named(_raw(_text("102", 2)), "b"),
                _named(_raw(_text("101", 3), _text("101", 4)), "c"),
            )
        )

        await _handle(fake, batch, limits=BatchLimits(max_events=100))

        by_tenant = {m.tenant_id: [e.event_id for e in m.events] for m in fake.messages}
        assert len(fake.messages) == 2
        assert by_tenant == {TENANT: ["a:e0.c0", "c:e0.c0", "c:e1.c0"], OTHER: ["a:e1.c0", "b:e0.c0"]}
        # Several deliveries: the incoming message's correlation id; the first event names the message.
        assert {m.message_id for m in fake.messages} == {"a:e0.c0+2", "a:e1.c0+1"}
        assert {m.correlation_id for m in fake.messages} == {"m1-corr"}

    async def test_a_message_of_one_delivery_is_correlated_by_that_delivery(self) -> None:
        fake = FakeRouting({("whatsapp", "101"): Route(TENANT)})

        await _route(fake, _raw(_text("101", 1), _text("101", 2)))

        [message] = fake.messages
        assert (message.message_id, message.correlation_id, len(message.events)) == ("d1:e0.c0+1", "d1", 2)

    async def test_a_bound_of_one_event_publishes_each_event_alone_under_its_own_id(self) -> None:
        fake = FakeRouting({("whatsapp", "101"): Route(TENANT)})

        await _handle(
            fake, RawWebhookBatch(deliveries=(_raw(_text("101", 1), _text("101", 2)),)), limits=BatchLimits(1)
        )

        assert [m.message_id for m in fake.messages] == ["d1:e0.c0", "d1:e1.c0"]

    async def test_refused_items_are_still_dead_lettered_one_by_one_beside_the_routed_message(self) -> None:
        fake = FakeRouting({("whatsapp", "101"): Route(TENANT)})

        await _route(fake, _raw(_text("101", 1), _text("999"), _text("101", 2), _text("998")))

        assert [len(m.events) for m in fake.messages] == [2]
        assert fake.refused == [
            ("e1.c0", reasons.UNMAPPED_ACCOUNT, "999"),
            ("e3.c0", reasons.UNMAPPED_ACCOUNT, "998"),
        ]
