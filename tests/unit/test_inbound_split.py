"""Deliveries that cannot be split, and fragments that are rejected while the rest carries on."""

from __future__ import annotations

import orjson
import pytest

from omni_common.channels.inbound import MalformedDelivery, split_delivery
from omni_common.channels.inbound.safe_json import nesting_depth_exceeds


def reason_of(channel: str, body: bytes) -> str:
    with pytest.raises(MalformedDelivery) as caught:
        split_delivery(channel, body)
    return caught.value.reason_code


def page(entries: object) -> bytes:
    return orjson.dumps({"object": "page", "entry": entries})


def message_item(text: str = "hi", page_id: str = "1") -> dict[str, object]:
    return {
        "sender": {"id": "u"},
        "recipient": {"id": page_id},
        "timestamp": 1749416383123,
        "message": {"mid": "m", "text": text},
    }


class TestWholeDeliveryRefused:
    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (b"\xff\xfe{}", "not_utf8"),
            (b"", "not_json"),
            (b"not json", "not_json"),
            (b'{"object": "page", "entry": [}', "not_json"),
            (b'{"object": NaN}', "not_json"),
            (b"[]", "not_object"),
            (b'"page"', "not_object"),
            (b"[" * 100_000, "too_deep"),
            (b'{"object":"page","entry":' + b"{" * 100_000, "too_deep"),
            (b'{"entry":[]}', "wrong_object"),
            (b'{"object":"instagram","entry":[]}', "wrong_object"),
            (b'{"object":"page"}', "no_entries"),
            (b'{"object":"page","entry":{}}', "no_entries"),
            (b'{"object":"page","entry":[]}', "no_entries"),
        ],
    )
    def test_reason(self, body: bytes, reason: str) -> None:
        assert reason_of("facebook", body) == reason

    def test_expected_object_per_channel(self) -> None:
        assert reason_of("whatsapp", b'{"object":"page","entry":[{}]}') == "wrong_object"
        assert reason_of("instagram", b'{"object":"page","entry":[{}]}') == "wrong_object"
        assert reason_of("telegram", b'{"object":"page","entry":[{}]}') == "unknown_channel"

    def test_too_many_entries(self) -> None:
        assert reason_of("facebook", page([{"id": "1", "messaging": []}] * 1001)) == "too_large"

    def test_too_many_items_in_one_entry(self) -> None:
        assert reason_of("facebook", page([{"id": "1", "messaging": [message_item()] * 1001}])) == "too_large"

    def test_too_many_items_across_entries(self) -> None:
        entries = [{"id": "1", "messaging": [message_item()] * 600}] * 2
        assert reason_of("facebook", page(entries)) == "too_large"


class TestDepthPreScan:
    def test_brackets_inside_strings_do_not_count(self) -> None:
        body = page([{"id": "1", "messaging": [message_item(text='[{\\"[' * 5000)]}])
        assert len(split_delivery("facebook", body).items) == 1

    def test_depth_at_the_limit_is_allowed(self) -> None:
        assert not nesting_depth_exceeds(b"[" * 64 + b"]" * 64, 64)
        assert nesting_depth_exceeds(b"[" * 65 + b"]" * 65, 64)

    def test_escaped_quote_does_not_end_a_string(self) -> None:
        assert not nesting_depth_exceeds(b'["\\"[[[[["]', 2)

    def test_deep_value_inside_a_valid_delivery_is_refused(self) -> None:
        deep = b'{"object":"page","entry":[{"id":"1","messaging":[' + b"[" * 70 + b"]" * 70 + b"]}]}"
        assert reason_of("facebook", deep) == "too_deep"


class TestFragmentsRejected:
    @pytest.mark.parametrize(
        ("entries", "index", "reason"),
        [
            (["not an object"], "e0", "malformed"),
            ([{"messaging": []}], "e0", "malformed"),
            ([{"id": 108201234567890, "messaging": []}], "e0", "malformed"),
            ([{"id": "", "messaging": []}], "e0", "malformed"),
            ([{"id": "1"}], "e0", "malformed"),
            ([{"id": "1", "messaging": {}}], "e0", "malformed"),
            ([{"id": "1", "messaging": [42]}], "e0.m0", "malformed"),
            ([{"id": "1", "messaging": [{"sender": "u", "recipient": {"id": "1"}}]}], "e0.m0", "malformed"),
            (
                [{"id": "1", "messaging": [{"sender": {"id": 5}, "recipient": {"id": "1"}}]}],
                "e0.m0",
                "malformed",
            ),
            ([{"id": "1", "messaging": [message_item(page_id="2")]}], "e0.m0", "account_mismatch"),
        ],
    )
    def test_messenger(self, entries: list[object], index: str, reason: str) -> None:
        result = split_delivery("facebook", page(entries))
        assert result.items == []
        assert [(r.index, r.reason_code) for r in result.rejects] == [(index, reason)]

    def test_bad_fragment_does_not_stop_the_others(self) -> None:
        result = split_delivery("facebook", page([{"id": "1", "messaging": [7, message_item()]}, "junk"]))
        assert [i.index for i in result.items] == ["e0.m1"]
        assert [r.index for r in result.rejects] == ["e0.m0", "e1"]

    def test_instagram_is_not_cross_checked(self) -> None:
        body = orjson.dumps(
            {"object": "instagram", "entry": [{"id": "1", "messaging": [message_item(page_id="2")]}]}
        )
        [item] = split_delivery("instagram", body).items
        assert item.account_id == "1"

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            ("junk", "malformed"),
            ({"field": "messages"}, "malformed"),
            ({"field": 1, "value": {}}, "malformed"),
            ({"field": "messages", "value": []}, "malformed"),
            (
                {"field": "messages", "value": {"metadata": {"phone_number_id": 106540352242922}}},
                "no_account_id",
            ),
            ({"field": "smb_message_echoes", "value": {}}, "no_account_id"),
        ],
    )
    def test_whatsapp_change(self, change: object, reason: str) -> None:
        body = orjson.dumps(
            {"object": "whatsapp_business_account", "entry": [{"id": "9", "changes": [change]}]}
        )
        result = split_delivery("whatsapp", body)
        assert [(r.index, r.reason_code) for r in result.rejects] == [("e0.c0", reason)]

    @pytest.mark.parametrize(
        ("entry", "reason"),
        [
            ({"id": "9"}, "malformed"),
            ({"id": "9", "changes": "x"}, "malformed"),
            ({"id": "9", "changes": []}, "no_items"),
        ],
    )
    def test_whatsapp_entry(self, entry: object, reason: str) -> None:
        body = orjson.dumps({"object": "whatsapp_business_account", "entry": [entry]})
        assert [(r.index, r.reason_code) for r in split_delivery("whatsapp", body).rejects] == [
            ("e0", reason)
        ]
