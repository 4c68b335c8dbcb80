"""WhatsApp fixtures through both stages: split, then normalize, asserting every normalized field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from inbound_support import MetaFixtures

from omni_common.channels.inbound import (
    Ignored,
    InboundMessage,
    Interactive,
    Location,
    MalformedEvent,
    MediaRef,
    MessageDeleted,
    MessageEdited,
    PlatformError,
    Reaction,
    StatusUpdate,
    normalize,
    split_delivery,
)

WABA, PNID = "102290129340398", "106540352242922"
WAID, NAME = "4915112345678", "Jürgen Müller"
WAMID = "wamid.HBgNNDkxNTExMjM0NTY3OBUCABIYFjNFQjA"
SENT = "wamid.HBgNNDkxNTExMjM0NTY3OBEDOURSENT"
AT = datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC)  # "1749416383"
STATUS_AT = datetime(2025, 6, 8, 21, 0, 0, tzinfo=UTC)  # "1749416400"


def _raw_is_the_message(event: InboundMessage, expected: InboundMessage) -> None:
    assert event.raw["id"] == expected.external_message_id


# Messages from Jürgen: ``message(number)`` is ``WAMID + number``.
WHATSAPP = MetaFixtures(
    "whatsapp",
    WAMID,
    {
        "contact_external_id": WAID,
        "contact_name": NAME,
        "contact_handle": f"+{WAID}",
        "platform_timestamp": AT,
    },
    _raw_is_the_message,
)
FIXTURES = WHATSAPP.folder
events_of, only, message, assert_message = WHATSAPP.helpers()


class TestSplit:
    def test_routes_a_message_change_by_phone_number_id(self) -> None:
        result = split_delivery("whatsapp", (FIXTURES / "text.json").read_bytes())
        [item] = result.items
        assert (item.index, item.channel, item.account_id, item.account_kind) == (
            "e0.c0",
            "whatsapp",
            PNID,
            "phone_number",
        )
        assert item.payload["waba_id"] == WABA
        assert item.payload["field"] == "messages"
        assert item.payload["value"]["metadata"]["phone_number_id"] == PNID

    def test_routes_an_account_level_field_by_waba_id(self) -> None:
        [item] = split_delivery("whatsapp", (FIXTURES / "account_update.json").read_bytes()).items
        assert (item.account_id, item.account_kind, item.payload["field"]) == (WABA, "waba", "account_update")

    def test_splits_a_batch_for_several_numbers_and_wabas(self) -> None:
        result = split_delivery("whatsapp", (FIXTURES / "batch.json").read_bytes())
        assert [(i.index, i.account_id, i.account_kind) for i in result.items] == [
            ("e0.c0", PNID, "phone_number"),
            ("e0.c1", "106540352242933", "phone_number"),
            ("e1.c0", "301234567890123", "phone_number"),
            ("e1.c1", "201122334455667", "waba"),
        ]
        [reject] = result.rejects
        assert (reject.index, reject.reason_code) == ("e1.c2", "no_account_id")
        assert reject.raw["value"] == {"messaging_product": "whatsapp", "statuses": []}


class TestMessages:
    def test_text_with_escaped_non_ascii(self) -> None:
        assert_message(
            "text", message(1, kind="text", text="Hallo, habt ihr heute Abend einen Tisch für 4 frei? 🍽️")
        )

    def test_reply_carries_the_quoted_message_id(self) -> None:
        assert_message(
            "text_reply", message(2, kind="text", text="Ja, 19:30 passt", reply_to_external_id=SENT)
        )

    def test_forwarded(self) -> None:
        assert_message(
            "text_forwarded", message(3, kind="text", text="Schaut mal diese Bewertung", forwarded=True)
        )

    def test_click_to_whatsapp_referral_is_kept(self) -> None:
        event = only("text_referral")
        assert isinstance(event, InboundMessage)
        assert event.referral is not None
        assert event.referral["source_type"] == "ad"
        assert event.referral["welcome_message"] == {"text": "Hallo! Wie können wir helfen?"}
        assert event.text == "Ich möchte den Brunch buchen"

    def test_username_adopter_is_keyed_by_bsuid(self) -> None:
        expected = message(
            5,
            kind="text",
            text="hi",
            contact_external_id="US.13491208655302741918",
            contact_name="Sheena",
            contact_handle=None,
        )
        assert_message("text_bsuid", expected)

    def test_image(self) -> None:
        media = MediaRef(
            kind="image",
            media_id="1479537139650973",
            url="https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1479537139650973&ext=1749416383&hash=ATu0",
            mime_type="image/jpeg",
            sha256="HkZ6Z8Jn8Jx2sTqmWwXn8cGS0XcK4bPnJ1Z5cQf3n+0=",
            caption="Unser Tisch – Foto",
        )
        assert_message("image", message(6, kind="image", text="Unser Tisch – Foto", media=media))

    @pytest.mark.parametrize(
        ("name", "number", "media"),
        [
            (
                "audio",
                7,
                MediaRef(
                    kind="audio",
                    media_id="1003383421387256",
                    mime_type="audio/ogg; codecs=opus",
                    sha256="5Ud8yLs2C8dT4aXb0lR3wQ4Q0jN2pFqVjC9y2c1K3Ws=",
                ),
            ),
            (
                "video",
                8,
                MediaRef(
                    kind="video",
                    media_id="2096785397518425",
                    mime_type="video/mp4",
                    sha256="m4s8d0Jp1bWwQ+8c1oS8v7dY3c2ZbQ8W6r0Lr4yXx0A=",
                ),
            ),
            (
                "sticker",
                10,
                MediaRef(
                    kind="sticker",
                    media_id="1228471741752546",
                    mime_type="image/webp",
                    sha256="1nQ5lD1o5sP7zU3vN8gS1g6kT2hR4yW8cE0xJ3bF7aM=",
                ),
            ),
        ],
    )
    def test_media_without_caption(self, name: str, number: int, media: MediaRef) -> None:
        assert_message(name, message(number, kind=name, media=media))

    def test_document_keeps_filename_and_caption(self) -> None:
        media = MediaRef(
            kind="document",
            media_id="1187357629248441",
            mime_type="application/pdf",
            sha256="Xh8r7wQx2mJ9c8ZfYhR1u0C3pQ4bW6nTq9kL2sD5vE8=",
            filename="Allergien.pdf",
            caption="Menüwunsch",
        )
        assert_message("document", message(9, kind="document", text="Menüwunsch", media=media))

    def test_location(self) -> None:
        location = Location(
            latitude=52.5291,
            longitude=13.4012,
            name="Café Resevit",
            address="Torstraße 1, 10119 Berlin",
            url="https://resevit.example/berlin",
        )
        assert_message("location", message(11, kind="location", location=location))

    def test_shared_contacts(self) -> None:
        event = only("contacts")
        assert isinstance(event, InboundMessage)
        assert event.kind == "contacts"
        assert event.shared_contacts is not None
        [card] = event.shared_contacts
        assert card["name"]["formatted_name"] == "René Dubois"
        assert card["phones"][0]["wa_id"] == "33612345678"

    def test_button_reply(self) -> None:
        choice = Interactive(kind="button_reply", payload="confirm:4711", title="Bestätigen")
        expected = message(
            13,
            kind="interactive",
            text="Bestätigen",
            interactive=choice,
            reply_to_external_id="wamid.HBgNNDkxNTExMjM0NTY3OBUCABEYEkFSKEDCONFIRM",
        )
        assert_message("interactive_button_reply", expected)

    def test_list_reply(self) -> None:
        choice = Interactive(
            kind="list_reply", payload="slot:1930", title="19:30", description="Terrasse, 4 Personen"
        )
        expected = message(
            14,
            kind="interactive",
            text="19:30",
            interactive=choice,
            reply_to_external_id="wamid.HBgNNDkxNTExMjM0NTY3OBUCABEYEkFSKEDSLOTS",
        )
        assert_message("interactive_list_reply", expected)

    def test_template_quick_reply_button(self) -> None:
        choice = Interactive(kind="button", payload="CANCEL_BOOKING", title="Stornieren")
        expected = message(
            15,
            kind="button",
            text="Stornieren",
            interactive=choice,
            reply_to_external_id="wamid.HBgNNDkxNTExMjM0NTY3OBUCABEYEkTEMPLATE",
        )
        assert_message("button", expected)

    def test_unsupported_keeps_raw(self) -> None:
        assert_message("unsupported", message(18, kind="unsupported"))
        assert only("unsupported").raw["unsupported"] == {"type": "poll"}

    @pytest.mark.parametrize(
        ("name", "number", "kind", "text"),
        [
            ("system", 19, "system", "Jürgen changed their phone number to a new number +49 151 99999999."),
            ("order", 20, "order", "Bitte ohne Zwiebeln"),
            ("request_welcome", 21, "request_welcome", None),
        ],
    )
    def test_placeholder_kinds(self, name: str, number: int, kind: str, text: str | None) -> None:
        assert_message(name, message(number, kind=kind, text=text))


class TestReactions:
    def test_reaction(self) -> None:
        event = only("reaction")
        assert event == Reaction(
            external_message_id=f"{WAMID}16",
            target_external_id=SENT,
            emoji="❤️",
            contact_external_id=WAID,
            contact_name=NAME,
            platform_timestamp=AT,
            raw=event.raw,
        )

    def test_removed_reaction_has_no_emoji(self) -> None:
        event = only("reaction_removed")
        assert isinstance(event, Reaction)
        assert (event.target_external_id, event.emoji) == (SENT, None)


class TestStatuses:
    @pytest.mark.parametrize(
        ("name", "status"),
        [
            ("status_sent", "sent"),
            ("status_delivered", "delivered"),
            ("status_read", "read"),
            ("status_played", "read"),
        ],
    )
    def test_status(self, name: str, status: str) -> None:
        event = only(name)
        assert event == StatusUpdate(
            external_message_id=SENT,
            status=status,
            platform_timestamp=STATUS_AT,
            recipient_id=WAID,
            raw=event.raw,
        )

    def test_failed_status_carries_the_error(self) -> None:
        event = only("status_failed")
        assert isinstance(event, StatusUpdate)
        assert (event.status, event.error_code, event.error_title) == (
            "failed",
            131047,
            "Re-engagement message",
        )
        assert event.error_message is not None
        assert event.error_message.startswith("Message failed to send because more than 24 hours")

    def test_system_error(self) -> None:
        event = only("errors")
        assert event == PlatformError(
            code=130429,
            title="Rate limit hit",
            message="Cloud API message throughput has been reached.",
            raw=event.raw,
        )

    def test_account_level_field_is_ignored_by_name(self) -> None:
        event = only("account_update")
        assert event == Ignored(
            reason="whatsapp_field:account_update",
            raw={"phone_number": "15550783881", "event": "VERIFIED_ACCOUNT"},
        )


class TestBatch:
    def test_every_change_normalizes_on_its_own(self) -> None:
        events = events_of("batch", rejects=1)
        assert [type(e).__name__ for e in events] == [
            "InboundMessage",
            "InboundMessage",
            "StatusUpdate",
            "TemplateStatusUpdate",
        ]
        assert [e.contact_name for e in events[:2]] == [NAME, "Alice"]


class TestMalformed:
    def payload(self, **message: Any) -> dict[str, Any]:
        base = {
            "from": WAID,
            "id": "wamid.x",
            "timestamp": "1749416383",
            "type": "text",
            "text": {"body": "hi"},
        }
        value = {"metadata": {"phone_number_id": PNID}, "messages": [{**base, **message}]}
        return {"waba_id": WABA, "field": "messages", "value": value}

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            ({"id": None}, "missing_id"),
            ({"id": 42}, "malformed"),
            ({"timestamp": "yesterday"}, "bad_timestamp"),
            ({"timestamp": "99999999999999"}, "bad_timestamp"),
            ({"from": None}, "missing_id"),
            ({"type": "image", "image": {"caption": "no id"}}, "missing_id"),
            ({"type": "location", "location": {"latitude": "52", "longitude": 13}}, "malformed"),
            ({"type": "location", "location": {"latitude": 10**400, "longitude": 13}}, "malformed"),
        ],
    )
    def test_message_that_cannot_be_understood(self, change: dict[str, Any], reason: str) -> None:
        with pytest.raises(MalformedEvent) as caught:
            normalize("whatsapp", PNID, self.payload(**change))
        assert caught.value.reason_code == reason

    def test_payload_for_another_number_is_refused(self) -> None:
        with pytest.raises(MalformedEvent) as caught:
            normalize("whatsapp", "999", self.payload())
        assert caught.value.reason_code == "account_mismatch"

    def test_unknown_status_is_ignored(self) -> None:
        value = {"statuses": [{"id": SENT, "status": "deleted", "timestamp": "1749416400"}]}
        [event] = normalize("whatsapp", PNID, {"waba_id": WABA, "field": "messages", "value": value})
        assert isinstance(event, Ignored)
        assert event.reason == "whatsapp_status:deleted"


class TestRareTypes:
    """Types seen in peer fixtures rather than Meta's reference pages; shapes kept minimal."""

    def value(self, **message: Any) -> dict[str, Any]:
        base = {"from": WAID, "id": "wamid.rare", "timestamp": "1749416383"}
        return {
            "waba_id": WABA,
            "field": "messages",
            "value": {"metadata": {"phone_number_id": PNID}, "messages": [{**base, **message}]},
        }

    def test_revoke_is_a_deletion_of_the_original(self) -> None:
        [event] = normalize(
            "whatsapp", PNID, self.value(type="revoke", revoke={"original_message_id": f"{WAMID}1"})
        )
        assert event == MessageDeleted(
            target_external_id=f"{WAMID}1", contact_external_id=WAID, platform_timestamp=AT, raw=event.raw
        )

    def test_edit_carries_the_new_text(self) -> None:
        edit = {
            "original_message_id": f"{WAMID}1",
            "message": {"type": "text", "text": {"body": "Tisch für 5"}},
        }
        [event] = normalize("whatsapp", PNID, self.value(type="edit", edit=edit))
        assert event == MessageEdited(
            target_external_id=f"{WAMID}1",
            text="Tisch für 5",
            contact_external_id=WAID,
            platform_timestamp=AT,
            raw=event.raw,
        )

    def test_flow_reply_keeps_the_response_json(self) -> None:
        interactive = {
            "type": "nfm_reply",
            "nfm_reply": {"name": "flow", "body": "Sent", "response_json": '{"guests": 4}'},
        }
        [event] = normalize("whatsapp", PNID, self.value(type="interactive", interactive=interactive))
        assert isinstance(event, InboundMessage)
        assert event.interactive == Interactive(
            kind="nfm_reply", payload='{"guests": 4}', title="flow", description="Sent"
        )

    def test_unknown_type_is_unsupported_not_lost(self) -> None:
        [event] = normalize("whatsapp", PNID, self.value(type="hologram", hologram={"x": 1}))
        assert isinstance(event, InboundMessage)
        assert (event.kind, event.raw["hologram"]) == ("unsupported", {"x": 1})
