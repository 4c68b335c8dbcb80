"""Meta's request bodies for templates, files and tagged Messenger/Instagram replies."""

from __future__ import annotations

import pytest

from omni_common.graph import MediaContent, PayloadError, TemplateContent, build_send_payload

COMPONENTS = [{"type": "body", "parameters": [{"type": "text", "text": "Olga"}]}]


def test_whatsapp_template_body() -> None:
    path, body = build_send_payload(
        "whatsapp",
        to="34600000001",
        text="Hi Olga",
        reply_to_external_id=None,
        kind="template",
        template=TemplateContent("booking_confirmation", "en_US", COMPONENTS),
    )
    assert path == "messages"
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+34600000001",
        "type": "template",
        "template": {"name": "booking_confirmation", "language": {"code": "en_US"}, "components": COMPONENTS},
    }


@pytest.mark.parametrize("channel", ["facebook", "instagram"])
def test_templates_exist_only_on_whatsapp(channel: str) -> None:
    with pytest.raises(PayloadError, match="only on WhatsApp"):
        build_send_payload(
            channel,
            to="PSID",
            text="x",
            reply_to_external_id=None,
            kind="template",
            template=TemplateContent("t", "en_US", []),
        )


def test_whatsapp_media_by_id_with_caption_and_document_name() -> None:
    _, image = build_send_payload(
        "whatsapp",
        to="1555",
        text="",
        reply_to_external_id="wamid.q",
        kind="image",
        media=MediaContent("image", "77", caption="Tonight's special"),
    )
    assert image["type"] == "image"
    assert image["image"] == {"id": "77", "caption": "Tonight's special"}
    assert image["context"] == {"message_id": "wamid.q"}
    _, doc = build_send_payload(
        "whatsapp",
        to="1555",
        text="",
        reply_to_external_id=None,
        kind="document",
        media=MediaContent("document", "78", filename="menu.pdf"),
    )
    assert doc["document"] == {"id": "78", "filename": "menu.pdf"}
    _, audio = build_send_payload(
        "whatsapp",
        to="1555",
        text="",
        reply_to_external_id=None,
        kind="audio",
        media=MediaContent("audio", "79", caption="no captions on audio"),
    )
    assert audio["audio"] == {"id": "79"}
    with pytest.raises(PayloadError, match="upload it first"):
        build_send_payload("whatsapp", to="1555", text="", reply_to_external_id=None, kind="image")


def test_messenger_attachment_and_the_human_agent_tag() -> None:
    _, body = build_send_payload(
        "facebook",
        to="PSID",
        text="",
        reply_to_external_id=None,
        kind="document",
        media=MediaContent("document", "555"),
        tag="HUMAN_AGENT",
    )
    assert body == {
        "recipient": {"id": "PSID"},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
        "message": {"attachment": {"type": "file", "payload": {"attachment_id": "555"}}},
    }
    _, text = build_send_payload(
        "instagram", to="IGSID", text="Hi", reply_to_external_id=None, tag="HUMAN_AGENT"
    )
    assert text == {
        "recipient": {"id": "IGSID"},
        "message": {"text": "Hi"},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
    }
    _, plain = build_send_payload("facebook", to="PSID", text="Hi", reply_to_external_id=None)
    assert plain["messaging_type"] == "RESPONSE"
    assert "tag" not in plain


def test_whatsapp_takes_no_tag_and_messenger_no_unknown_tag() -> None:
    with pytest.raises(PayloadError):
        build_send_payload("whatsapp", to="1555", text="Hi", reply_to_external_id=None, tag="HUMAN_AGENT")
    with pytest.raises(PayloadError):
        build_send_payload(
            "facebook", to="P", text="Hi", reply_to_external_id=None, tag="CONFIRMED_EVENT_UPDATE"
        )
