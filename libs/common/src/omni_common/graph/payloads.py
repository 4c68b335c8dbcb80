"""Send-API request bodies per channel, in Meta's documented shapes (meta-api.md §3)."""

from __future__ import annotations

import re
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


def build_send_payload(
    channel: Channel, *, to: str, text: str, reply_to_external_id: str | None, kind: str = "text"
) -> tuple[str, dict[str, Any]]:
    """Path suffix (after ``/{account-id}/``) and JSON body of a send; raises ``PayloadError``.

    ``kind="reaction"``: ``text`` is the emoji and ``reply_to_external_id`` the message reacted to.
    """
    if kind == "reaction":
        return "messages", build_reaction_payload(channel, to=to, message_id=reply_to_external_id, emoji=text)
    if not text or not text.strip():
        raise PayloadError("text is empty")
    if not to or not to.strip():
        raise PayloadError("recipient is empty")
    if channel == "whatsapp":
        return "messages", _whatsapp(to, text, reply_to_external_id)
    if channel == "facebook":
        return "messages", _messenger(to, text, reply_to_external_id)
    if channel == "instagram":
        return "messages", _instagram(to, text)
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


def _messenger(to: str, text: str, reply_to: str | None) -> dict[str, Any]:
    if len(text) > FACEBOOK_MAX_CHARS:
        raise TextTooLong("facebook", FACEBOOK_MAX_CHARS, "characters", len(text))
    message: dict[str, Any] = {"text": text}
    if reply_to:
        message["reply_to"] = {"mid": reply_to}
    return {"recipient": {"id": to.strip()}, "messaging_type": "RESPONSE", "message": message}


def _instagram(to: str, text: str) -> dict[str, Any]:
    size = len(text.encode("utf-8"))
    if size > INSTAGRAM_MAX_BYTES:
        raise TextTooLong("instagram", INSTAGRAM_MAX_BYTES, "bytes", size)
    return {"recipient": {"id": to.strip()}, "message": {"text": text}}


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
