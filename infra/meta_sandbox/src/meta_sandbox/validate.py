"""Send-body validation per channel, with Meta's error codes and wording where known.

The shape of each body is checked here; what needs the sandbox's state (a template, a media id, an
attachment id) is checked afterwards by ``template_send``, ``media`` and ``attachments``.
WhatsApp: https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages (media objects:
``id`` or ``link``, ``caption`` on image/video/document up to 1024 characters, ``filename`` on
documents; mark as read with an optional ``typing_indicator: {"type": "text"}``,
https://developers.facebook.com/docs/whatsapp/cloud-api/typing-indicators ).
Messenger / Instagram: https://developers.facebook.com/docs/messenger-platform/reference/send-api
(``message.text`` or ``message.attachment``, ``messaging_type``, ``tag``, ``sender_action``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meta_sandbox.errors import MetaError

_WA_MAX_CHARS = 4096
_FB_MAX_CHARS = 2000
_IG_MAX_BYTES = 1000
_CAPTION_MAX = 1024
_MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
WA_MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
_CAPTIONED = ("image", "video", "document")
_ATTACHMENT_TYPES = ("image", "video", "audio", "file")
_SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen")


@dataclass(frozen=True)
class SendRequest:
    """What a valid send asks for."""

    recipient: str
    text: str | None
    reply_to: str | None
    mark_read: str | None = None  # WhatsApp mark-as-read: the wamid being marked
    reaction: dict[str, str] | None = None  # WhatsApp reaction: {"message_id", "emoji"}
    kind: str = "text"  # text | reaction | media | template | attachment | mark_read | sender_action
    media: dict[str, Any] | None = None  # WhatsApp: {"type", "ref" ({id} | {link}), "caption", "filename"}
    template: Any = None  # WhatsApp: the body's ``template`` object, checked by template_send
    attachment: dict[str, Any] | None = None  # Messenger/IG: {"type", "payload"}
    messaging_type: str | None = None
    tag: str | None = None
    typing: bool = False  # WhatsApp typing indicator with a mark-as-read

    @property
    def free_form(self) -> bool:
        """True for what the customer-service window governs (everything but templates and receipts)."""
        return self.kind not in ("template", "mark_read", "sender_action")


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
        return _wa_mark_read(body)
    to = body.get("to")
    if not isinstance(to, str) or not to:
        raise _bad("The parameter to is required.", whatsapp=True)
    if not to.removeprefix("+").isdigit():
        raise MetaError(131009, message="(#131009) Parameter value is not valid", whatsapp=True)
    if body.get("recipient_type", "individual") not in ("individual", "group"):
        raise _bad("Param recipient_type must be one of {individual, group}", whatsapp=True)
    kind = body.get("type", "text")
    if kind == "reaction":
        return _wa_reaction(to, body)
    if kind == "template":
        return SendRequest(
            recipient=to,
            text=None,
            reply_to=_wa_context(body),
            kind="template",
            template=body.get("template"),
        )
    if kind in WA_MEDIA_TYPES:
        return _wa_media(to, kind, body)
    if kind != "text":
        supported = ", ".join(("text", "reaction", "template", *WA_MEDIA_TYPES))
        raise _bad(f"The sandbox supports only the types {supported}", whatsapp=True)
    text = body.get("text")
    if not isinstance(text, dict) or not isinstance(text.get("body"), str) or not text["body"]:
        raise _bad("The parameter text['body'] is required.", whatsapp=True)
    if len(text["body"]) > _WA_MAX_CHARS:
        raise _bad(f"Param text['body'] must be at most {_WA_MAX_CHARS} characters long.", whatsapp=True)
    if "preview_url" in text and not isinstance(text["preview_url"], bool):
        raise _bad("Param text['preview_url'] must be a boolean", whatsapp=True)
    return SendRequest(recipient=to, text=text["body"], reply_to=_wa_context(body))


def _wa_mark_read(body: dict[str, Any]) -> SendRequest:
    message_id = body.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise _bad("The parameter message_id is required.", whatsapp=True)
    typing = body.get("typing_indicator")
    if typing is not None and (not isinstance(typing, dict) or typing.get("type") != "text"):
        raise _bad("Param typing_indicator['type'] must be one of {text}", whatsapp=True)
    return SendRequest(
        recipient="",
        text=None,
        reply_to=None,
        mark_read=message_id,
        kind="mark_read",
        typing=typing is not None,
    )


def _wa_media(to: str, kind: str, body: dict[str, Any]) -> SendRequest:
    media = body.get(kind)
    if not isinstance(media, dict):
        raise _bad(f"The parameter {kind} is required.", whatsapp=True)
    caption = media.get("caption")
    if caption is not None:
        if kind not in _CAPTIONED:
            raise _bad(f"Param {kind}['caption'] is not supported for {kind} messages", whatsapp=True)
        if not isinstance(caption, str) or len(caption) > _CAPTION_MAX:
            raise _bad(
                f"Param {kind}['caption'] must be at most {_CAPTION_MAX} characters long.", whatsapp=True
            )
    filename = media.get("filename")
    if filename is not None and (kind != "document" or not isinstance(filename, str)):
        raise _bad(f"Param {kind}['filename'] is only supported for document messages", whatsapp=True)
    ref = {k: media[k] for k in ("id", "link") if k in media}
    spec = {"type": kind, "ref": ref, "caption": caption, "filename": filename}
    return SendRequest(recipient=to, text=caption, reply_to=_wa_context(body), kind="media", media=spec)


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
        kind="reaction",
    )


def _wa_context(body: dict[str, Any]) -> str | None:
    if "context" not in body:
        return None
    context = body["context"]
    if not isinstance(context, dict) or not isinstance(context.get("message_id"), str):
        raise _bad("Param context['message_id'] must be a string", whatsapp=True)
    message_id: str = context["message_id"]
    return message_id


def _messaging(channel: str, body: dict[str, Any]) -> SendRequest:
    recipient = body.get("recipient")
    if not isinstance(recipient, dict) or not isinstance(recipient.get("id"), str) or not recipient["id"]:
        raise _bad("The parameter recipient is required")
    if "sender_action" in body:
        if body["sender_action"] not in _SENDER_ACTIONS:
            raise _bad("param sender_action must be one of {typing_on, typing_off, mark_seen}")
        return SendRequest(recipient=recipient["id"], text=None, reply_to=None, kind="sender_action")
    messaging_type = body.get("messaging_type")
    if channel == "facebook" and messaging_type not in _MESSAGING_TYPES:
        raise _bad("param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
    tag = body.get("tag")
    if messaging_type == "MESSAGE_TAG" and not tag:
        raise _bad("The parameter tag is required with messaging_type MESSAGE_TAG")
    message = body.get("message")
    if not isinstance(message, dict) or ("text" in message) == ("attachment" in message):
        raise _bad("param message must be non-empty.")
    messaging_type = messaging_type if isinstance(messaging_type, str) else None
    tag = tag if isinstance(tag, str) else None
    if "attachment" in message:
        attachment = _attachment(message["attachment"])
        return SendRequest(
            recipient=recipient["id"],
            text=None,
            reply_to=None,
            kind="attachment",
            attachment=attachment,
            messaging_type=messaging_type,
            tag=tag,
        )
    text = message["text"]
    if not isinstance(text, str) or not text:
        raise _bad("param message must be non-empty.")
    if channel == "facebook" and len(text) > _FB_MAX_CHARS:
        raise _bad(f"Length of param message[text] must be less than or equal to {_FB_MAX_CHARS}")
    if channel == "instagram" and len(text.encode("utf-8")) > _IG_MAX_BYTES:
        raise _bad(f"Length of param message[text] must be at most {_IG_MAX_BYTES} bytes")
    reply_to = message.get("reply_to")
    # Outbound reply_to is not in Meta's docs: accepted and recorded so tests can see it.
    mid = reply_to.get("mid") if isinstance(reply_to, dict) else None
    return SendRequest(
        recipient=recipient["id"],
        text=text,
        reply_to=mid if isinstance(mid, str) else None,
        messaging_type=messaging_type,
        tag=tag,
    )


def _attachment(raw: Any) -> dict[str, Any]:
    kind = raw.get("type") if isinstance(raw, dict) else None
    payload = raw.get("payload") if isinstance(raw, dict) else None
    if kind not in _ATTACHMENT_TYPES or not isinstance(payload, dict):
        raise _bad("param message[attachment][type] must be one of {image, video, audio, file}")
    if ("attachment_id" in payload) == ("url" in payload):
        raise _bad("param message[attachment][payload] must have either url or attachment_id")
    return {"type": kind, "payload": payload}
