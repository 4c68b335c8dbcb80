"""The core property: whatever arrives, split raises only MalformedDelivery, normalize only MalformedEvent.

Both public functions turn an unexpected exception into ``reason_code == "parser_error"`` as a last
line of defence, so these tests also assert that code never appears: a bug must fail here, not hide.
"""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omni_common.channels.inbound import (
    InboundMessage,
    MalformedDelivery,
    MalformedEvent,
    NormalizedEvent,
    SplitResult,
    normalize,
    split_delivery,
)
from omni_common.channels.inbound.split import EXPECTED_OBJECT

FIXTURES = Path(__file__).parents[1] / "fixtures" / "meta"
CHANNELS = ("whatsapp", "facebook", "instagram")
FAST = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Keys the parsers look at, so random objects hit real branches instead of only unknown keys.
KEYS = [
    "object", "entry", "id", "time", "changes", "field", "value", "metadata", "phone_number_id",
    "messages", "statuses", "errors", "contacts", "profile", "name", "wa_id", "user_id", "from",
    "from_user_id", "type", "timestamp", "text", "body", "image", "document", "location", "latitude",
    "longitude", "interactive", "button_reply", "list_reply", "button", "reaction", "message_id",
    "emoji", "context", "forwarded", "status", "recipient_id", "code", "messaging", "standby",
    "sender", "recipient", "message", "mid", "is_echo", "is_deleted", "attachments", "payload", "url",
    "reply_to", "story", "quick_reply", "postback", "read", "delivery", "watermark", "mids", "action",
    "message_edit", "sticker_id", "coordinates", "lat", "long", "item", "entry_id", "waba_id",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),  # what orjson can encode
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(
        ["1749416383", "1749416383123", "text", "image", "react", "unreact", "messages", "m_1", ""]
    ),
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=25,
)


def fixture_deliveries() -> list[tuple[str, dict[str, Any]]]:
    return [
        (ch, orjson.loads(p.read_bytes())) for ch in CHANNELS for p in sorted((FIXTURES / ch).glob("*.json"))
    ]


DELIVERIES = fixture_deliveries()


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position in a JSON value, as the keys/indexes leading to it."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += paths(child, (*prefix, i))
    return found


@st.composite
def mutated_delivery(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A fixture with a few positions deleted or replaced by arbitrary JSON."""
    channel, doc = draw(st.sampled_from(DELIVERIES))
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        positions = paths(doc)[1:]
        if not positions:
            break
        where = draw(st.sampled_from(positions))
        parent = doc
        for step in where[:-1]:
            parent = parent[step]
        if draw(st.booleans()):
            del parent[where[-1]]
        else:
            parent[where[-1]] = draw(JSON)
    return channel, doc


def assert_well_formed(events: list[NormalizedEvent]) -> None:
    assert isinstance(events, list)
    for event in events:
        for name in ("platform_timestamp", "watermark"):
            moment = getattr(event, name, None)
            if isinstance(moment, datetime):
                assert moment.tzinfo is not None
        if isinstance(event, InboundMessage):
            assert isinstance(event.external_message_id, str)
            assert event.external_message_id
            assert isinstance(event.contact_external_id, str)


def split_or_error(channel: str, body: bytes) -> SplitResult | MalformedDelivery:
    """Split, returning the one exception split may raise instead of raising it."""
    try:
        return split_delivery(channel, body)
    except MalformedDelivery as exc:
        return exc


def normalize_or_error(channel: str, account_id: str, payload: Any) -> list[NormalizedEvent] | MalformedEvent:
    """Normalize, returning the one exception normalize may raise instead of raising it."""
    try:
        return normalize(channel, account_id, payload)
    except MalformedEvent as exc:
        return exc


def check_normalized(outcome: list[NormalizedEvent] | MalformedEvent) -> None:
    if isinstance(outcome, MalformedEvent):
        assert outcome.reason_code != "parser_error", outcome
    else:
        assert_well_formed(outcome)


def split_and_normalize(channel: str, body: bytes) -> None:
    result = split_or_error(channel, body)
    if isinstance(result, MalformedDelivery):
        assert result.reason_code != "parser_error", result
        return
    for item in result.items:
        assert isinstance(item.account_id, str)
        assert item.account_id
        check_normalized(normalize_or_error(item.channel, item.account_id, item.payload))


@FAST
@given(channel=st.sampled_from(CHANNELS), body=st.binary(max_size=300))
def test_split_of_arbitrary_bytes(channel: str, body: bytes) -> None:
    split_and_normalize(channel, body)


@FAST
@given(channel=st.sampled_from(CHANNELS), entries=JSON)
def test_split_of_arbitrary_entries(channel: str, entries: Any) -> None:
    split_and_normalize(channel, orjson.dumps({"object": EXPECTED_OBJECT[channel], "entry": entries}))


@FAST
@given(mutated_delivery())
def test_split_and_normalize_of_mutated_fixtures(case: tuple[str, dict[str, Any]]) -> None:
    channel, doc = case
    split_and_normalize(channel, orjson.dumps(doc))


@FAST
@given(
    channel=st.sampled_from(CHANNELS),
    account_id=st.sampled_from(["106540352242922", "108201234567890", "17841405822304914", "", "x"]),
    payload=JSON | st.integers(min_value=10**20, max_value=10**400),
)
def test_normalize_of_arbitrary_payloads(channel: str, account_id: str, payload: Any) -> None:
    check_normalized(normalize_or_error(channel, account_id, payload))


@FAST
@given(data=st.data())
def test_normalize_of_mutated_routable_payloads(data: st.DataObject) -> None:
    channel, doc = data.draw(st.sampled_from(DELIVERIES))
    items = split_delivery(channel, orjson.dumps(doc)).items
    item = data.draw(st.sampled_from(items))
    payload = copy.deepcopy(item.payload)
    where = data.draw(st.sampled_from(paths(payload)[1:]))
    parent = payload
    for step in where[:-1]:
        parent = parent[step]
    # Swap types the JSON parser never produces too: huge ints, tuples, bytes.
    parent[where[-1]] = data.draw(JSON | st.sampled_from([10**40, -(10**40), (1, 2), b"\x00", float("nan")]))
    check_normalized(normalize_or_error(item.channel, item.account_id, payload))


@pytest.mark.parametrize(
    ("channel", "doc"), DELIVERIES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(DELIVERIES)]
)
def test_every_fixture_splits_and_normalizes(channel: str, doc: dict[str, Any]) -> None:
    result = split_delivery(channel, orjson.dumps(doc))
    assert result.items
    for item in result.items:
        assert_well_formed(normalize(item.channel, item.account_id, item.payload))
