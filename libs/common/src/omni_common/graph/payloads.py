"""Send-API request bodies per channel, in Meta's documented shapes (meta-api.md §3)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from omni_common.domain.channels import Channel
from omni_common.graph.errors import PayloadError, TextTooLong

WHATSAPP_MAX_CHARS = 4096
FACEBOOK_MAX_CHARS = 2000
INSTAGRAM_MAX_BYTES = 1000

# Separators people type in phone numbers; anything else in a WhatsApp "to" is refused.
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")

# Outbound threading: documented for WhatsApp (context.message_id). Messenger's message.reply_to is
# unverified but chosen by the product; Instagram's is unverified too, so we do not send it there
# (an unknown parameter could make Meta reject the whole reply).
THREADED_REPLIES: dict[str, bool] = {"whatsapp": True, "facebook": True, "instagram": False}

# Staff reactions: only WhatsApp documents a reaction *message* (type "reaction"). Instagram's
# sender_action "react" carries only a heart and Messenger documents no reaction send, so the inbox
# refuses reactions there instead of sending something Meta may reject or render differently.
REACTIONS: dict[str, bool] = {"whatsapp": True, "facebook": False, "instagram": False}
MAX_EMOJI_CHARS = 16
CAPTION_MAX_CHARS = 1024  # WhatsApp media captions
MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
_CAPTIONED = ("image", "video", "document")
# Messenger/Instagram attachment types for our media kinds (documents go as "file").
ATTACHMENT_TYPES = {"image": "image", "video": "video", "audio": "audio", "document": "file"}
# The Messenger Platform's tags (the window rules decide which one a send needs).
MESSAGE_TAGS = frozenset({"HUMAN_AGENT"})


@dataclass(frozen=True)
class TemplateContent:
    """A WhatsApp template send: its name, language code and Meta-shaped ``components``."""

    name: str
    language: str
    components: list[dict[str, Any]]


@dataclass(frozen=True)
class MediaContent:
    """A file to send by Meta's id for it: a WhatsApp media id, or a Messenger/Instagram
    ``attachment_id`` (both obtained by uploading it first)."""

    kind: str  # image | video | audio | document | sticker
    ref: str
    caption: str | None = None
    filename: str | None = None


def build_send_payload(
    channel: Channel,
    *,
    to: str,
    text: str,
    reply_to_external_id: str | None,
    kind: str = "text",
    template: TemplateContent | None = None,
    media: MediaContent | None = None,
    tag: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Path suffix (after ``/{account-id}/``) and JSON body of a send; raises ``PayloadError``.

    ``kind="reaction"``: ``text`` is the emoji and ``reply_to_external_id`` the message reacted to;
    ``kind="template"``: ``template`` (WhatsApp only); a media kind: ``media``. ``tag``: the message
    tag a Messenger/Instagram send needs outside 24 hours (``HUMAN_AGENT``).
    """
    if not to or not to.strip():
        raise PayloadError("recipient is empty")
    if tag is not None and (channel == "whatsapp" or tag not in MESSAGE_TAGS):
        raise PayloadError(f"{channel} sends take no message tag {tag!r}")
    if kind == "reaction":
        return "messages", build_reaction_payload(channel, to=to, message_id=reply_to_external_id, emoji=text)
    if kind == "template":
        return "messages", _template(channel, to, template, reply_to_external_id)
    if kind in MEDIA_KINDS:
        return "messages", _media(channel, to, kind, media, reply_to_external_id, tag)
    if not text or not text.strip():
        raise PayloadError("text is empty")
    if channel == "whatsapp":
        return "messages", _whatsapp(to, text, reply_to_external_id)
    if channel == "facebook":
        return "messages", _messenger(to, text, reply_to_external_id, tag)
    if channel == "instagram":
        return "messages", _instagram(to, text, tag)
    raise PayloadError(f"unknown channel {channel!r}")


def _tagged(body: dict[str, Any], tag: str | None) -> dict[str, Any]:
    """A Messenger/Instagram body outside 24 hours: ``messaging_type: MESSAGE_TAG`` and its tag."""
    if tag is not None:
        body["messaging_type"] = "MESSAGE_TAG"
        body["tag"] = tag
    return body


def _template(
    channel: str, to: str, template: TemplateContent | None, reply_to: str | None
) -> dict[str, Any]:
    if channel != "whatsapp":
        raise PayloadError("message templates exist only on WhatsApp")
    if template is None or not template.name or not template.language:
        raise PayloadError("a template send needs the template's name and language")
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": normalize_wa_recipient(to),
        "type": "template",
        "template": {"name": template.name, "language": {"code": template.language}},
    }
    if template.components:
        body["template"]["components"] = template.components
    if reply_to:
        body["context"] = {"message_id": reply_to}
    return body


def _media(
    channel: str, to: str, kind: str, media: MediaContent | None, reply_to: str | None, tag: str | None
) -> dict[str, Any]:
    if media is None or not media.ref:
        raise PayloadError(f"a {kind} send needs the file's id on Meta (upload it first)")
    if channel == "whatsapp":
        item: dict[str, Any] = {"id": media.ref}
        if media.caption and kind in _CAPTIONED:
            if len(media.caption) > CAPTION_MAX_CHARS:
                raise TextTooLong("whatsapp", CAPTION_MAX_CHARS, "characters", len(media.caption))
            item["caption"] = media.caption
        if media.filename and kind == "document":
            item["filename"] = media.filename
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": normalize_wa_recipient(to),
            "type": kind,
            kind: item,
        }
        if reply_to:
            body["context"] = {"message_id": reply_to}
        return body
    if kind not in ATTACHMENT_TYPES:
        raise PayloadError(f"{channel} takes no {kind} attachments")
    attachment = {"type": ATTACHMENT_TYPES[kind], "payload": {"attachment_id": media.ref}}
    if channel == "facebook":
        return _tagged(
            {
                "recipient": {"id": to.strip()},
                "messaging_type": "RESPONSE",
                "message": {"attachment": attachment},
            },
            tag,
        )
    if channel == "instagram":
        return _tagged({"recipient": {"id": to.strip()}, "message": {"attachment": attachment}}, tag)
    raise PayloadError(f"unknown channel {channel!r}")


def normalize_wa_recipient(to: str) -> str:
    """E.164 with a leading ``+``: without it Meta prepends the business number's country code."""
    digits = _PHONE_SEPARATORS.sub("", to.strip()).removeprefix("+")
    if not digits.isdigit() or not digits.isascii():
        raise PayloadError("WhatsApp recipient must be a phone number")
    return "+" + digits


def _whatsapp(to: str, text: str, reply_to: str | None) -> dict[str, Any]:
    if len(text) > WHATSAPP_MAX_CHARS:
        raise TextTooLong("whatsapp", WHATSAPP_MAX_CHARS, "characters", len(text))
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": normalize_wa_recipient(to),
        "type": "text",
        "text": {"preview_url": False, "body": text},
    }
    if reply_to:
        body["context"] = {"message_id": reply_to}
    return body


def _messenger(to: str, text: str, reply_to: str | None, tag: str | None = None) -> dict[str, Any]:
    if len(text) > FACEBOOK_MAX_CHARS:
        raise TextTooLong("facebook", FACEBOOK_MAX_CHARS, "characters", len(text))
    message: dict[str, Any] = {"text": text}
    if reply_to:
        message["reply_to"] = {"mid": reply_to}
    return _tagged({"recipient": {"id": to.strip()}, "messaging_type": "RESPONSE", "message": message}, tag)


def _instagram(to: str, text: str, tag: str | None = None) -> dict[str, Any]:
    size = len(text.encode("utf-8"))
    if size > INSTAGRAM_MAX_BYTES:
        raise TextTooLong("instagram", INSTAGRAM_MAX_BYTES, "bytes", size)
    return _tagged({"recipient": {"id": to.strip()}, "message": {"text": text}}, tag)


def build_reaction_payload(
    channel: Channel, *, to: str, message_id: str | None, emoji: str
) -> dict[str, Any]:
    """WhatsApp reaction message (meta-api.md §3); PayloadError on channels without one."""
    if not REACTIONS.get(channel, False):
        raise PayloadError(f"{channel} has no reaction message we can send")
    if not message_id:
        raise PayloadError("a reaction needs the platform id of the message it reacts to")
    emoji = (emoji or "").strip()
    if not emoji or len(emoji) > MAX_EMOJI_CHARS or any(c.isascii() and c.isalnum() for c in emoji):
        raise PayloadError("a reaction is one emoji")
    # No "context": Meta does not allow reactions as contextual replies.
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": normalize_wa_recipient(to),
        "type": "reaction",
        "reaction": {"message_id": message_id, "emoji": emoji},
    }
