"""Messenger fixtures through both stages: split, then normalize, asserting every normalized field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from inbound_support import MetaFixtures

from omni_common.channels.inbound import (
    Ignored,
    InboundMessage,
    Interactive,
    MalformedEvent,
    MediaRef,
    MessageEdited,
    Reaction,
    WatermarkUpdate,
    normalize,
    split_delivery,
)

PAGE, PSID = "108201234567890", "6723543210987654"
MID = "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"
AT = datetime(2025, 6, 8, 20, 59, 43, 123000, tzinfo=UTC)  # 1749416383123 ms


def _raw_is_of_the_thread(event: InboundMessage, _expected: InboundMessage) -> None:
    assert event.raw["sender"]["id"] in (PSID, PAGE)


# Messages in the PSID's thread: ``message(suffix)`` is ``MID + suffix``.
MESSENGER = MetaFixtures(
    "facebook",
    MID,
    {"contact_external_id": PSID, "contact_name": None, "contact_handle": PSID, "platform_timestamp": AT},
    _raw_is_of_the_thread,
)
FIXTURES = MESSENGER.folder
events_of, only, message, assert_message = MESSENGER.helpers()


class TestSplit:
    def test_routes_by_page_id(self) -> None:
        [item] = split_delivery("facebook", (FIXTURES / "text.json").read_bytes()).items
        assert (item.index, item.channel, item.account_id, item.account_kind) == (
            "e0.m0",
            "facebook",
            PAGE,
            "page",
        )
        assert item.payload["entry_id"] == PAGE
        assert item.payload["time"] == 1749416384000
        assert item.payload["standby"] is False
        assert item.payload["item"]["message"]["mid"] == f"{MID}1"

    def test_splits_a_batch_and_rejects_the_item_for_another_page(self) -> None:
        result = split_delivery("facebook", (FIXTURES / "batch.json").read_bytes())
        assert [(i.index, i.account_id, i.payload["standby"]) for i in result.items] == [
            ("e0.m0", PAGE, False),
            ("e1.m0", "108209999999999", False),
            ("e2.s0", PAGE, True),
        ]
        [reject] = result.rejects
        assert (reject.index, reject.reason_code) == ("e1.m1", "account_mismatch")
        assert reject.raw["message"]["text"] == "spoofed page"

    def test_echo_is_checked_on_the_sender_side(self) -> None:
        body = (FIXTURES / "echo.json").read_bytes().replace(PAGE.encode(), b"999", 1)
        result = split_delivery("facebook", body)
        assert [r.reason_code for r in result.rejects] == ["account_mismatch"]

    def test_entry_with_changes_only_is_unsupported(self) -> None:
        body = b'{"object":"page","entry":[{"id":"1","time":1,"changes":[{"field":"feed","value":{}}]}]}'
        [reject] = split_delivery("facebook", body).rejects
        assert (reject.index, reject.reason_code) == ("e0", "unsupported_field")


class TestMessages:
    def test_text_with_escaped_non_ascii(self) -> None:
        assert_message("text", message("1", kind="text", text="Grüße! Habt ihr vegane Gerichte?"))

    @pytest.mark.parametrize(
        ("name", "number", "kind", "url"),
        [
            ("image", 0, "image", "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo.jpg?_nc_cat=1&oh=abc"),
            ("audio", 1, "audio", "https://cdn.fbsbx.com/v/t59.3654-21/voice.mp4?oh=abc"),
            ("video", 2, "video", "https://video.xx.fbcdn.net/v/t42.3356-2/clip.mp4?oh=abc"),
            ("file", 3, "document", "https://cdn.fbsbx.com/v/t59.2708-21/Speisekarte.pdf?oh=abc"),
        ],
    )
    def test_attachment(self, name: str, number: int, kind: str, url: str) -> None:
        assert_message(name, message(f"2{number}", kind=kind, media=MediaRef(kind=kind, url=url)))

    def test_legacy_sticker_is_an_image_with_sticker_id(self) -> None:
        media = MediaRef(kind="sticker", url="https://scontent.xx.fbcdn.net/v/t39.1997-6/like.png")
        assert_message("sticker", message("3", kind="sticker", media=media))

    def test_sticker_sent_twice_during_the_transition_is_one_sticker(self) -> None:
        media = MediaRef(kind="sticker", url="https://scontent.xx.fbcdn.net/v/t39.1997-6/heart.png")
        assert_message("sticker_transition", message("4", kind="sticker", media=media))

    def test_several_images_in_one_message(self) -> None:
        first = MediaRef(kind="image", url="https://scontent.xx.fbcdn.net/v/a.jpg")
        second = MediaRef(kind="image", url="https://scontent.xx.fbcdn.net/v/b.jpg")
        assert_message("multi_image", message("5", kind="image", media=first, extra_media=[second]))

    def test_quick_reply(self) -> None:
        choice = Interactive(kind="quick_reply", payload="DAY_TOMORROW", title="Morgen")
        assert_message("quick_reply", message("6", kind="quick_reply", text="Morgen", interactive=choice))

    def test_reply_to(self) -> None:
        expected = message("7", kind="text", text="Ja, genau die", reply_to_external_id=f"{MID}0")
        assert_message("reply_to", expected)

    def test_link_share_without_payload(self) -> None:
        media = MediaRef(
            kind="fallback",
            url="https://l.facebook.com/l.php?u=https%3A%2F%2Fresevit.example%2Fmenu",
            caption="Unsere Speisekarte",
        )
        assert_message(
            "fallback_share", message("8", kind="share", text="https://resevit.example/menu", media=media)
        )

    def test_ad_referral(self) -> None:
        event = only("ad_referral")
        assert isinstance(event, InboundMessage)
        assert event.referral is not None
        assert (event.kind, event.text, event.referral["ad_id"]) == (
            "text",
            "Ist das Angebot noch gültig?",
            "120214567890123456",
        )

    def test_postback(self) -> None:
        choice = Interactive(kind="postback", payload="BOOK_TABLE", title="Tisch reservieren")
        assert_message(
            "postback", message("10", kind="postback", text="Tisch reservieren", interactive=choice)
        )

    def test_postback_without_mid_gets_a_stable_id(self) -> None:
        item = {
            "sender": {"id": PSID},
            "recipient": {"id": PAGE},
            "timestamp": 1749416383123,
            "postback": {"payload": "GET_STARTED"},
        }
        payload = {"entry_id": PAGE, "time": 1, "item": item, "standby": False}
        [first] = normalize("facebook", PAGE, payload)
        [again] = normalize("facebook", PAGE, payload)
        assert isinstance(first, InboundMessage)
        assert first.external_message_id == again.external_message_id == f"postback:{PSID}:1749416383123"

    def test_echo_is_outbound_to_the_recipient(self) -> None:
        expected = message(
            "11", kind="text", text="Danke, bis heute Abend!", is_echo=True, app_id="1517776481860111"
        )
        assert_message("echo", expected)
        assert only("echo").direction == "outbound"

    def test_standby_echo_from_another_app(self) -> None:
        [item] = split_delivery("facebook", (FIXTURES / "standby_echo.json").read_bytes()).items
        assert (item.index, item.payload["standby"]) == ("e0.s0", True)
        expected = message(
            "12", kind="text", text="Sent from Business Suite", is_echo=True, app_id="263902037430900"
        )
        assert_message("standby_echo", expected)


class TestOtherEvents:
    def test_reaction(self) -> None:
        event = only("reaction")
        assert event == Reaction(
            external_message_id=None,
            target_external_id=f"{MID}0",
            emoji="❤️",
            contact_external_id=PSID,
            contact_name=None,
            platform_timestamp=AT,
            raw=event.raw,
        )

    def test_reaction_by_the_page_is_an_echo_in_the_customer_thread(self) -> None:
        item = {
            "sender": {"id": PAGE},
            "recipient": {"id": PSID},
            "timestamp": 1749416383123,
            "reaction": {"reaction": "like", "action": "react", "mid": f"{MID}1"},
        }
        [event] = normalize("facebook", PAGE, {"entry_id": PAGE, "time": 1, "item": item, "standby": False})
        assert isinstance(event, Reaction)
        assert (event.contact_external_id, event.is_echo, event.emoji) == (PSID, True, "👍")

    def test_unreact_removes_the_emoji(self) -> None:
        event = only("unreact")
        assert isinstance(event, Reaction)
        assert (event.target_external_id, event.emoji) == (f"{MID}0", None)

    def test_delivery_watermark(self) -> None:
        event = only("delivery")
        assert event == WatermarkUpdate(
            status="delivered",
            watermark=datetime(2025, 6, 8, 20, 59, 50, tzinfo=UTC),
            mids=[f"{MID}0"],
            contact_external_id=PSID,
            raw=event.raw,
        )

    def test_read_watermark(self) -> None:
        event = only("read")
        assert event == WatermarkUpdate(
            status="read",
            watermark=datetime(2025, 6, 8, 20, 59, 55, tzinfo=UTC),
            mids=[],
            contact_external_id=PSID,
            raw=event.raw,
        )

    def test_edit(self) -> None:
        event = only("message_edit")
        assert event == MessageEdited(
            target_external_id=f"{MID}1",
            text="Grüße! Habt ihr glutenfreie Gerichte?",
            contact_external_id=PSID,
            platform_timestamp=AT,
            raw=event.raw,
        )

    @pytest.mark.parametrize(("name", "reason"), [("referral", "referral"), ("optin", "optin")])
    def test_ignored(self, name: str, reason: str) -> None:
        event = only(name)
        assert isinstance(event, Ignored)
        assert event.reason == reason


class TestMalformed:
    @pytest.mark.parametrize(
        ("item", "reason"),
        [
            ({"message": {"text": "no mid"}}, "missing_id"),
            ({"message": {"mid": 7, "text": "x"}}, "malformed"),
            ({"message": {"mid": "m_1", "text": "x"}, "timestamp": "soon"}, "bad_timestamp"),
            ({"message": {"mid": "m_1", "text": "x"}, "timestamp": 10**30}, "bad_timestamp"),
            ({"message": {"mid": "m_1", "text": "x"}, "sender": {}}, "missing_id"),
            ({"message": "hello"}, "malformed"),
            ({"delivery": {"mids": ["m_1"]}}, "bad_timestamp"),
            ({"reaction": {"action": "react", "emoji": "x"}}, "missing_id"),
        ],
    )
    def test_item_that_cannot_be_understood(self, item: dict[str, Any], reason: str) -> None:
        base = {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1749416383123}
        payload = {"entry_id": PAGE, "time": 1, "item": {**base, **item}, "standby": False}
        with pytest.raises(MalformedEvent) as caught:
            normalize("facebook", PAGE, payload)
        assert caught.value.reason_code == reason
