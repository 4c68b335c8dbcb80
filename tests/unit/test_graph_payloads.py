"""Send bodies per channel, in Meta's documented shapes, with limits checked before any call."""

from __future__ import annotations

import pytest

from omni_common.graph import PayloadError, TextTooLong, build_send_payload


class TestWhatsApp:
    def test_builds_documented_text_body_with_plus_prefixed_recipient(self) -> None:
        path, body = build_send_payload("whatsapp", to="16505551234", text="Hola", reply_to_external_id=None)
        assert path == "messages"
        assert body == {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "+16505551234",
            "type": "text",
            "text": {"preview_url": False, "body": "Hola"},
        }

    def test_reply_adds_context_message_id(self) -> None:
        _, body = build_send_payload(
            "whatsapp", to="+1 650-555-1234", text="ok", reply_to_external_id="wamid.X"
        )
        assert body["to"] == "+16505551234"
        assert body["context"] == {"message_id": "wamid.X"}

    def test_text_at_limit_is_accepted_and_over_it_refused(self) -> None:
        build_send_payload("whatsapp", to="1", text="a" * 4096, reply_to_external_id=None)
        with pytest.raises(TextTooLong) as info:
            build_send_payload("whatsapp", to="1", text="a" * 4097, reply_to_external_id=None)
        assert (info.value.limit, info.value.unit, info.value.actual) == (4096, "characters", 4097)

    @pytest.mark.parametrize("to", ["abc", "+", "", "١٢٣"])
    def test_refuses_a_recipient_that_is_not_a_phone_number(self, to: str) -> None:
        with pytest.raises(PayloadError):
            build_send_payload("whatsapp", to=to, text="hi", reply_to_external_id=None)


class TestMessenger:
    def test_builds_response_message(self) -> None:
        path, body = build_send_payload("facebook", to="PSID1", text="Hi", reply_to_external_id=None)
        assert path == "messages"
        assert body == {"recipient": {"id": "PSID1"}, "messaging_type": "RESPONSE", "message": {"text": "Hi"}}

    def test_reply_puts_reply_to_inside_message(self) -> None:
        _, body = build_send_payload("facebook", to="PSID1", text="Hi", reply_to_external_id="m_1")
        assert body["message"] == {"text": "Hi", "reply_to": {"mid": "m_1"}}

    def test_limit_is_2000_characters(self) -> None:
        build_send_payload("facebook", to="P", text="é" * 2000, reply_to_external_id=None)
        with pytest.raises(TextTooLong):
            build_send_payload("facebook", to="P", text="a" * 2001, reply_to_external_id=None)


class TestInstagram:
    def test_builds_plain_message_without_messaging_type(self) -> None:
        _, body = build_send_payload("instagram", to="IGSID", text="Hi", reply_to_external_id="m_1")
        assert body == {"recipient": {"id": "IGSID"}, "message": {"text": "Hi"}}

    def test_limit_counts_utf8_bytes_not_characters(self) -> None:
        build_send_payload("instagram", to="I", text="é" * 500, reply_to_external_id=None)  # 1000 bytes
        with pytest.raises(TextTooLong) as info:
            build_send_payload("instagram", to="I", text="é" * 501, reply_to_external_id=None)
        assert (info.value.unit, info.value.actual) == ("bytes", 1002)


@pytest.mark.parametrize("channel", ["whatsapp", "facebook", "instagram"])
def test_empty_text_is_refused_before_any_call(channel: str) -> None:
    with pytest.raises(PayloadError):
        build_send_payload(channel, to="1", text="  ", reply_to_external_id=None)
