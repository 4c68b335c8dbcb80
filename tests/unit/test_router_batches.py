"""The router's packing of routed events into messages, and the ``RoutedEventBatch`` wire form."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from omni_common.contracts import (
    RoutedEvent,
    RoutedEventBatch,
    decode,
    encode,
    encode_routed_batch,
    encode_routed_event,
)
from omni_common.domain.channels import Channel
from tenant_router.batches import BatchLimits, pack

TENANTS = [uuid.UUID(int=n) for n in range(1, 5)]
CHANNELS: list[Channel] = ["whatsapp", "facebook", "instagram"]
AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def _event(n: int, tenant: uuid.UUID, channel: Channel, text: str = "hola") -> RoutedEvent:
    return RoutedEvent(
        event_id=f"d{n // 3}:e{n % 3}.c0",
        delivery_id=f"d{n // 3}",
        tenant_id=tenant,
        channel=channel,
        account_id="101",
        received_at=AT,
        payload={"field": "messages", "value": {"text": text, "n": n}},
    )


events_strategy = st.lists(
    st.tuples(st.sampled_from(TENANTS), st.sampled_from(CHANNELS), st.text(max_size=300)), max_size=60
).map(lambda specs: [_event(n, t, c, text) for n, (t, c, text) in enumerate(specs)])


@settings(max_examples=150, deadline=None)
@given(
    events=events_strategy,
    max_events=st.integers(min_value=1, max_value=8),
    max_bytes=st.integers(min_value=300, max_value=3000),
)
def test_every_event_travels_once_in_a_message_of_its_tenant_and_channel_within_the_bounds(
    events: list[RoutedEvent], max_events: int, max_bytes: int
) -> None:
    batches = pack(events, BatchLimits(max_events, max_bytes), correlation_id="in-1")

    assert Counter(e.event_id for b in batches for e in b.events) == Counter(e.event_id for e in events)
    for b in batches:
        decoded = decode(RoutedEventBatch, b.body)  # the body is the contract, tenant checked by it
        assert decoded.events == b.events
        assert (decoded.tenant_id, decoded.channel) == (b.tenant_id, b.channel)
        assert 1 <= len(b.events) <= max_events
        assert len(b.body) <= max_bytes or len(b.events) == 1  # only an event over the bound alone
    # Each tenant's events keep their order across its messages.
    for key in {(e.tenant_id, e.channel) for e in events}:
        sent = [e.event_id for b in batches if (b.tenant_id, b.channel) == key for e in b.events]
        assert sent == [e.event_id for e in events if (e.tenant_id, e.channel) == key]
    # Unbounded, one message per tenant and channel.
    if events:
        assert len(pack(events, BatchLimits(10_000, 10**9))) == len(
            {(e.tenant_id, e.channel) for e in events}
        )
    assert len({b.message_id for b in batches}) == len(batches)


def test_message_ids_are_stable_and_a_message_of_one_event_is_named_by_it() -> None:
    events = [_event(n, TENANTS[0], "whatsapp") for n in range(5)]

    first = pack(events, BatchLimits(max_events=3))
    again = pack(events, BatchLimits(max_events=3))

    assert [b.message_id for b in first] == [b.message_id for b in again] == ["d0:e0.c0+2", "d1:e0.c0+1"]
    [alone] = pack(events[:1], BatchLimits())
    assert alone.message_id == "d0:e0.c0"
    assert decode(RoutedEvent, alone.body) == events[0]  # a plain event, as before batches


def test_a_message_of_one_delivery_is_correlated_by_it_else_by_the_incoming_message() -> None:
    one = [_event(n, TENANTS[0], "whatsapp") for n in range(3)]  # all of delivery d0
    two = [_event(n, TENANTS[0], "whatsapp") for n in range(2, 4)]  # d0 and d1

    assert pack(one, BatchLimits(), correlation_id="in-1")[0].correlation_id == "d0"
    assert pack(two, BatchLimits(), correlation_id="in-1")[0].correlation_id == "in-1"


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        BatchLimits(max_events=0)


class TestTheContract:
    def test_the_joined_wire_form_decodes_as_the_model_encodes(self) -> None:
        events = tuple(_event(n, TENANTS[0], "instagram", 'é \U0001f600 \\ "') for n in range(3))
        model = RoutedEventBatch(tenant_id=TENANTS[0], channel="instagram", events=events)

        joined = encode_routed_batch(TENANTS[0], "instagram", [encode(e) for e in events])

        assert decode(RoutedEventBatch, joined) == decode(RoutedEventBatch, encode(model)) == model

    @settings(max_examples=100, deadline=None)
    @given(text=st.text(max_size=200), micros=st.integers(min_value=0, max_value=999_999))
    def test_the_router_s_own_encoding_decodes_as_the_model_s(self, text: str, micros: int) -> None:
        event = _event(4, TENANTS[2], "whatsapp", text).model_copy(
            update={"received_at": AT.replace(microsecond=micros)}
        )

        assert decode(RoutedEvent, encode_routed_event(event)) == decode(RoutedEvent, encode(event)) == event

    def test_a_payload_orjson_cannot_write_is_encoded_the_model_s_way(self) -> None:
        event = _event(0, TENANTS[0], "whatsapp").model_copy(update={"payload": {"n": 2**70}})

        assert encode_routed_event(event) == encode(event)

    def test_a_plain_routed_event_decodes_as_a_batch_of_one(self) -> None:
        event = _event(0, TENANTS[1], "facebook")

        batch = decode(RoutedEventBatch, encode(event))

        assert (batch.tenant_id, batch.channel, batch.events) == (TENANTS[1], "facebook", (event,))

    @pytest.mark.parametrize(
        "other",
        [_event(1, TENANTS[1], "whatsapp"), _event(1, TENANTS[0], "facebook")],
        ids=["another tenant", "another channel"],
    )
    def test_a_batch_holds_one_tenant_and_one_channel(self, other: RoutedEvent) -> None:
        mixed = encode_routed_batch(
            TENANTS[0], "whatsapp", [encode(_event(0, TENANTS[0], "whatsapp")), encode(other)]
        )

        with pytest.raises(ValidationError):
            decode(RoutedEventBatch, mixed)

    def test_an_empty_batch_is_refused(self) -> None:
        body: dict[str, Any] = {"type": "event.routed.batch", "version": 1, "tenant_id": str(TENANTS[0])}
        with pytest.raises(ValidationError):
            RoutedEventBatch.model_validate({**body, "channel": "whatsapp", "events": []})
