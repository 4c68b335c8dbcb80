"""Send-body validation per channel, with Meta's error codes and wording where known."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meta_sandbox.errors import MetaError

_WA_MAX_CHARS = 4096
_FB_MAX_CHARS = 2000
_IG_MAX_BYTES = 1000
_MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")


@dataclass(frozen=True)
class SendRequest:
    """What a valid send asks for."""

    recipient: str
    text: str | None
    reply_to: str | None
    mark_read: str | None = None  # WhatsApp mark-as-read: the wamid being marked
    reaction: dict[str, str] | None = None  # WhatsApp reaction: {"message_id", "emoji"}


def _bad(message: str, *, whatsapp: bool = False, subcode: int | None = None) -> MetaError:
    return MetaError(100, message=f"(#100) {message}", whatsapp=whatsapp, subcode=subcode)


def validate_send(channel: str, body: Any) -> SendRequest:
    """Check a send body as Meta would; raises ``MetaError`` (code 100) on the first problem."""
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object", whatsapp=channel == "whatsapp")
    if channel == "whatsapp":
        return _whatsapp(body)
    return _messaging(channel, body)


def _whatsapp(body: dict[str, Any]) -> SendRequest:
    if body.get("messaging_product") != "whatsapp":
        raise _bad("The parameter messaging_product is required.", whatsapp=True)
    if body.get("status") == "read":
        message_id = body.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise _bad("The parameter message_id is required.", whatsapp=True)
        return SendRequest(recipient="", text=None, reply_to=None, mark_read=message_id)
    to = body.get("to")
    if not isinstance(to, str) or not to:
        raise _bad("The parameter to is required.", whatsapp=True)
    if not to.removeprefix("+").isdigit():
        raise MetaError(131009, message="(#131009) Parameter value is not valid", whatsapp=True)
    if body.get("recipient_type", "individual") not in ("individual", "group"):
        raise _bad("Param recipient_type must be one of {individual, group}", whatsapp=True)
    if body.get("type") == "reaction":
        return _wa_reaction(to, body)
    if body.get("type", "text") != "text":
        raise _bad("The sandbox supports only types text and reaction", whatsapp=True)
    text = body.get("text")
    if not isinstance(text, dict) or not isinstance(text.get("body"), str) or not text["body"]:
        raise _bad("The parameter text['body'] is required.", whatsapp=True)
    if len(text["body"]) > _WA_MAX_CHARS:
        raise _bad(f"Param text['body'] must be at most {_WA_MAX_CHARS} characters long.", whatsapp=True)
    if "preview_url" in text and not isinstance(text["preview_url"], bool):
        raise _bad("Param text['preview_url'] must be a boolean", whatsapp=True)
    return SendRequest(recipient=to, text=text["body"], reply_to=_wa_context(body))


def _wa_reaction(to: str, body: dict[str, Any]) -> SendRequest:
    if "context" in body:
        raise _bad("Reactions cannot be sent as contextual replies", whatsapp=True)
    reaction = body.get("reaction")
    if not isinstance(reaction, dict) or not isinstance(reaction.get("message_id"), str):
        raise _bad("The parameter reaction['message_id'] is required.", whatsapp=True)
    emoji = reaction.get("emoji")
    if not isinstance(emoji, str):  # "" removes a reaction (Meta's documented form)
        raise _bad("The parameter reaction['emoji'] is required.", whatsapp=True)
    return SendRequest(
        recipient=to,
        text=None,
        reply_to=None,
        reaction={"message_id": reaction["message_id"], "emoji": emoji},
    )


def _wa_context(body: dict[str, Any]) -> str | None:
    if "context" not in body:
        return None
    context = body["context"]
    if not isinstance(context, dict) or not isinstance(context.get("message_id"), str):
        raise _bad("Param context['message_id'] must be a string", whatsapp=True)
    return context["message_id"]


def _messaging(channel: str, body: dict[str, Any]) -> SendRequest:
    recipient = body.get("recipient")
    if not isinstance(recipient, dict) or not isinstance(recipient.get("id"), str) or not recipient["id"]:
        raise _bad("The parameter recipient is required")
    messaging_type = body.get("messaging_type")
    if channel == "facebook" and messaging_type not in _MESSAGING_TYPES:
        raise _bad("param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
    if messaging_type == "MESSAGE_TAG" and not body.get("tag"):
        raise _bad("The parameter tag is required with messaging_type MESSAGE_TAG")
    message = body.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("text"), str) or not message["text"]:
        raise _bad("param message must be non-empty.")
    text = message["text"]
    if channel == "facebook" and len(text) > _FB_MAX_CHARS:
        raise _bad(f"Length of param message[text] must be less than or equal to {_FB_MAX_CHARS}")
    if channel == "instagram" and len(text.encode("utf-8")) > _IG_MAX_BYTES:
        raise _bad(f"Length of param message[text] must be at most {_IG_MAX_BYTES} bytes")
    reply_to = message.get("reply_to")
    # Outbound reply_to is not in Meta's docs: accepted and recorded so tests can see it.
    mid = reply_to.get("mid") if isinstance(reply_to, dict) else None
    return SendRequest(recipient=recipient["id"], text=text, reply_to=mid if isinstance(mid, str) else None)
