"""Instagram fixtures through both stages: split, then normalize, asserting every normalized field."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from inbound_support import MetaFixtures

from omni_common.channels.inbound import (
    InboundMessage,
    Interactive,
    MediaRef,
    MessageDeleted,
    MessageEdited,
    Reaction,
    StatusUpdate,
    split_delivery,
)

IG, IGSID = "17841405822304914", "1234567890123456"
MID = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTcyMDE"
AT = datetime(2025, 6, 8, 20, 59, 43, 123000, tzinfo=UTC)  # 1749416383123 ms
CDN = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id="


def _raw_is_the_message(event: InboundMessage, expected: InboundMessage) -> None:
    assert event.raw["message"]["mid"] == expected.external_message_id


# Messages in the IGSID's thread: ``message(suffix)`` is ``MID + suffix``.
INSTAGRAM = MetaFixtures(
    "instagram",
    MID,
    {"contact_external_id": IGSID, "contact_name": None, "contact_handle": IGSID, "platform_timestamp": AT},
    _raw_is_the_message,
)
FIXTURES = INSTAGRAM.folder
events_of, only, message, assert_message = INSTAGRAM.helpers()


def test_routes_by_instagram_account_id() -> None:
    [item] = split_delivery("instagram", (FIXTURES / "text.json").read_bytes()).items
    assert (item.index, item.channel, item.account_id, item.account_kind) == (
        "e0.m0",
        "instagram",
        IG,
        "instagram",
    )
    assert item.payload["item"]["sender"]["id"] == IGSID


def test_standby_item_is_routed_and_flagged() -> None:
    [item] = split_delivery("instagram", (FIXTURES / "standby_text.json").read_bytes()).items
    assert (item.index, item.payload["standby"]) == ("e0.s0", True)
    assert_message("standby_text", message("13", kind="text", text="Hallo?"))


class TestMessages:
    def test_text_with_escaped_non_ascii(self) -> None:
        assert_message("text", message("1", kind="text", text="Olá! Vocês abrem no domingo?"))

    @pytest.mark.parametrize(
        ("name", "number", "kind", "url"),
        [
            ("image", 0, "image", f"{CDN}1791&signature=AbC"),
            ("audio", 1, "audio", "https://cdn.fbsbx.com/v/t59.3654-21/ig_voice.mp4?oh=abc"),
            ("video", 2, "video", f"{CDN}1792&signature=AbD"),
            ("file", 3, "document", "https://cdn.fbsbx.com/v/t59.2708-21/reservierung.pdf?oh=abc"),
        ],
    )
    def test_attachment(self, name: str, number: int, kind: str, url: str) -> None:
        assert_message(name, message(f"2{number}", kind=kind, media=MediaRef(kind=kind, url=url)))

    def test_story_mention_is_a_link_never_stored(self) -> None:
        media = MediaRef(kind="story_mention", url=f"{CDN}17907812345678901&signature=StOrY", is_story=True)
        assert_message("story_mention", message("3", kind="story_mention", media=media))

    def test_story_reply(self) -> None:
        expected = message(
            "4",
            kind="story_reply",
            text="Sieht lecker aus 😍",
            story_id="17907898765432109",
            story_reply_url=f"{CDN}17907898765432109&signature=RePlY",
        )
        assert_message("story_reply", expected)

    @pytest.mark.parametrize(
        ("name", "number", "media"),
        [
            (
                "share_reel",
                "5",
                MediaRef(
                    kind="ig_reel", url=f"{CDN}18034567890123456&signature=ReEl", caption="Pasta fresca 🍝"
                ),
            ),
            (
                "share_post",
                "6",
                MediaRef(kind="ig_post", url=f"{CDN}18012345678901234&signature=PoSt", caption="Neues Menü"),
            ),
        ],
    )
    def test_shared_content_is_a_link(self, name: str, number: str, media: MediaRef) -> None:
        assert_message(name, message(number, kind="share", media=media))

    def test_reply_to(self) -> None:
        assert_message("reply_to", message("7", kind="text", text="Genau!", reply_to_external_id=f"{MID}0"))

    def test_quick_reply(self) -> None:
        choice = Interactive(kind="quick_reply", payload="PARTY_2", title="2 Personen")
        assert_message("quick_reply", message("8", kind="quick_reply", text="2 Personen", interactive=choice))

    def test_icebreaker_postback(self) -> None:
        choice = Interactive(kind="postback", payload="ICEBREAKER_HOURS", title="Öffnungszeiten")
        expected = message("9", kind="postback", text="Öffnungszeiten", interactive=choice)
        event = only("postback")
        assert event == dataclasses.replace(expected, raw=event.raw)

    def test_echo(self) -> None:
        assert_message("echo", message("10", kind="text", text="Ja, ab 12 Uhr ☺", is_echo=True))

    def test_unsupported(self) -> None:
        assert_message("unsupported", message("11", kind="unsupported"))

    def test_ad_referral(self) -> None:
        event = only("ad_referral")
        assert isinstance(event, InboundMessage)
        assert event.referral is not None
        assert event.referral["ads_context_data"]["ad_title"] == "Mittagstisch"


class TestOtherEvents:
    def test_reaction(self) -> None:
        event = only("reaction")
        assert event == Reaction(
            external_message_id=None,
            target_external_id=f"{MID}0",
            emoji="❤️",
            contact_external_id=IGSID,
            contact_name=None,
            platform_timestamp=AT,
            raw=event.raw,
        )

    def test_unreact(self) -> None:
        event = only("unreact")
        assert isinstance(event, Reaction)
        assert (event.target_external_id, event.emoji) == (f"{MID}0", None)

    def test_seen_is_a_read_status_of_that_message(self) -> None:
        event = only("seen")
        assert event == StatusUpdate(
            external_message_id=f"{MID}0",
            status="read",
            platform_timestamp=datetime(2025, 6, 8, 20, 59, 59, tzinfo=UTC),
            recipient_id=IGSID,
            raw=event.raw,
        )

    def test_unsent_message(self) -> None:
        event = only("deleted")
        assert event == MessageDeleted(
            target_external_id=f"{MID}1", contact_external_id=IGSID, platform_timestamp=AT, raw=event.raw
        )

    def test_edit(self) -> None:
        event = only("message_edit")
        assert event == MessageEdited(
            target_external_id=f"{MID}1",
            text="Olá! Vocês abrem na segunda?",
            contact_external_id=IGSID,
            platform_timestamp=AT,
            raw=event.raw,
        )
