"""Stage 2 for WhatsApp: one ``{"waba_id", "field", "value"}`` change into domain events.

Only ``field == "messages"`` carries conversation traffic: ``messages[]`` (inbound),
``statuses[]`` (our outbound) and ``errors[]`` (system errors). ``message_template_status_update``
(routed by the WABA's id) becomes a ``TemplateStatusUpdate``. Every other field is ``Ignored``
with its name as reason, so account-level notifications are visible but never crash us.
"""

from __future__ import annotations

from typing import Any

from omni_common.channels.inbound.errors import MalformedEvent
from omni_common.channels.inbound.extract import (
    as_dict,
    as_list,
    coordinate,
    epoch_seconds,
    opt_dict,
    opt_id,
    opt_int,
    opt_str,
    req_str,
)
from omni_common.channels.inbound.model import (
    DeliveryStatus,
    Ignored,
    InboundMessage,
    Interactive,
    Location,
    MediaRef,
    MessageDeleted,
    MessageEdited,
    NormalizedEvent,
    PlatformError,
    Reaction,
    StatusUpdate,
    TemplateStatusUpdate,
)

MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
# Message types we keep as their own kind with their text (if any), nothing more to extract.
PLACEHOLDER_TYPES = {"order": "order", "system": "system", "request_welcome": "request_welcome"}
STATUSES: dict[str, DeliveryStatus] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "played": "read",  # voice message played: it was read
}


def normalize_whatsapp(account_id: str, payload: dict[str, Any]) -> list[NormalizedEvent]:
    """Turn one WhatsApp change into events."""
    payload = as_dict(payload, "payload")
    field = payload.get("field")
    if not isinstance(field, str):
        raise MalformedEvent("malformed", "payload.field is not a string")
    value = as_dict(payload.get("value"), "value")
    if field == "message_template_status_update":
        return [_template_status(account_id, payload, value)]
    if field != "messages":
        return [Ignored(reason=f"whatsapp_field:{field[:64]}", raw=value)]
    phone_number_id = opt_str(opt_dict(value, "metadata"), "phone_number_id")
    if phone_number_id is not None and phone_number_id != account_id:
        raise MalformedEvent("account_mismatch", "metadata.phone_number_id is not the routed account")
    contacts = as_list(value.get("contacts"), "value.contacts")
    events: list[NormalizedEvent] = []
    for message in as_list(value.get("messages"), "value.messages"):
        events.append(_message(as_dict(message, "message"), contacts))
    for status in as_list(value.get("statuses"), "value.statuses"):
        events.append(_status(as_dict(status, "status")))
    for error in as_list(value.get("errors"), "value.errors"):
        events.append(_platform_error(as_dict(error, "error")))
    return events or [Ignored(reason="empty_value", raw=value)]


def _contact(message: dict[str, Any], contacts: list[Any]) -> tuple[str, str | None, str | None]:
    """Return (external id, name, handle): the phone (wa_id) or, for username adopters, the BSUID."""
    wa_id = opt_id(message, "from")
    user_id = opt_id(message, "from_user_id")
    external_id = wa_id or user_id
    if external_id is None:
        raise MalformedEvent("missing_id", "message has neither from nor from_user_id")
    candidates = [c for c in contacts if isinstance(c, dict)]
    match = next(
        (
            c
            for c in candidates
            if (wa_id and opt_id(c, "wa_id") == wa_id) or (user_id and opt_id(c, "user_id") == user_id)
        ),
        candidates[0] if len(candidates) == 1 else None,
    )
    name = opt_str(opt_dict(match, "profile"), "name") or None
    return external_id, name, f"+{wa_id}" if wa_id else None


def _message(message: dict[str, Any], contacts: list[Any]) -> NormalizedEvent:
    message_id = req_str(message, "id", "message")
    timestamp = epoch_seconds(message.get("timestamp"), "message.timestamp")
    contact_id, name, handle = _contact(message, contacts)
    mtype = opt_str(message, "type") or "unsupported"
    if mtype == "reaction":
        reaction = as_dict(message.get("reaction"), "message.reaction")
        return Reaction(
            external_message_id=message_id,
            target_external_id=req_str(reaction, "message_id", "reaction"),
            emoji=opt_str(reaction, "emoji") or None,
            contact_external_id=contact_id,
            contact_name=name,
            platform_timestamp=timestamp,
            raw=message,
        )
    if mtype == "revoke":
        # Shape seen in peer fixtures only; the deleted message is named by original_message_id.
        target = opt_id(opt_dict(message, "revoke"), "original_message_id") or message_id
        return MessageDeleted(
            target_external_id=target,
            contact_external_id=contact_id,
            platform_timestamp=timestamp,
            raw=message,
        )
    if mtype == "edit":
        edit = as_dict(message.get("edit"), "message.edit")
        inner = opt_dict(edit, "message")
        return MessageEdited(
            target_external_id=req_str(edit, "original_message_id", "edit"),
            text=opt_str(opt_dict(inner, "text"), "body"),
            contact_external_id=contact_id,
            platform_timestamp=timestamp,
            raw=message,
        )
    context = opt_dict(message, "context") or {}
    common: dict[str, Any] = {
        "external_message_id": message_id,
        "contact_external_id": contact_id,
        "contact_name": name,
        "contact_handle": handle,
        "platform_timestamp": timestamp,
        "raw": message,
        "reply_to_external_id": opt_id(context, "id"),
        "forwarded": context.get("forwarded") is True or context.get("frequently_forwarded") is True,
        "referral": opt_dict(message, "referral"),
    }
    return InboundMessage(**common, **_body(mtype, message))


def _body(mtype: str, message: dict[str, Any]) -> dict[str, Any]:
    """Return the kind-specific fields of an ``InboundMessage``."""
    if mtype == "text":
        return {"kind": "text", "text": opt_str(opt_dict(message, "text"), "body")}
    if mtype in MEDIA_TYPES:
        body = as_dict(message.get(mtype), f"message.{mtype}")
        media = MediaRef(
            kind=mtype,
            media_id=req_str(body, "id", mtype),
            url=opt_str(body, "url"),
            mime_type=opt_str(body, "mime_type"),
            sha256=opt_str(body, "sha256"),
            filename=opt_str(body, "filename"),
            caption=opt_str(body, "caption"),
        )
        return {"kind": mtype, "text": media.caption, "media": media}
    if mtype == "location":
        body = as_dict(message.get("location"), "message.location")
        location = Location(
            latitude=coordinate(body, "latitude", 90, "location"),
            longitude=coordinate(body, "longitude", 180, "location"),
            name=opt_str(body, "name"),
            address=opt_str(body, "address"),
            url=opt_str(body, "url"),
        )
        return {"kind": "location", "location": location}
    if mtype == "contacts":
        cards = as_list(message.get("contacts"), "message.contacts")
        return {"kind": "contacts", "shared_contacts": [c for c in cards if isinstance(c, dict)]}
    if mtype == "interactive":
        return _interactive(as_dict(message.get("interactive"), "message.interactive"))
    if mtype == "button":
        body = as_dict(message.get("button"), "message.button")
        title = opt_str(body, "text")
        choice = Interactive(kind="button", payload=opt_str(body, "payload"), title=title)
        return {"kind": "button", "text": title, "interactive": choice}
    if mtype in PLACEHOLDER_TYPES:
        inner = opt_dict(message, mtype)
        text = opt_str(inner, "body") or opt_str(inner, "text")
        return {"kind": PLACEHOLDER_TYPES[mtype], "text": text}
    # "unsupported" (Meta could not render it) and any type newer than this code: keep raw.
    return {"kind": "unsupported"}


def _interactive(body: dict[str, Any]) -> dict[str, Any]:
    itype = opt_str(body, "type") or "unknown"
    reply = opt_dict(body, itype) or {}
    if itype == "nfm_reply":
        # WhatsApp Flows: the answers are a JSON string we keep as the payload.
        choice = Interactive(
            kind=itype,
            payload=opt_str(reply, "response_json"),
            title=opt_str(reply, "name"),
            description=opt_str(reply, "body"),
        )
    else:
        choice = Interactive(
            kind=itype[:64],
            payload=opt_str(reply, "id"),
            title=opt_str(reply, "title"),
            description=opt_str(reply, "description"),
        )
    return {"kind": "interactive", "text": choice.title, "interactive": choice}


def _first_error(obj: dict[str, Any]) -> dict[str, Any] | None:
    errors = obj.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return errors[0]
    return None


def _error_message(error: dict[str, Any] | None) -> str | None:
    # error_data.details is the specific text; message is often just the title again.
    return opt_str(opt_dict(error, "error_data"), "details") or opt_str(error, "message")


def _status(status: dict[str, Any]) -> NormalizedEvent:
    message_id = req_str(status, "id", "status")
    name = req_str(status, "status", "status")
    timestamp = epoch_seconds(status.get("timestamp"), "status.timestamp")
    mapped = STATUSES.get(name)
    if mapped is None:
        return Ignored(reason=f"whatsapp_status:{name[:64]}", raw=status)
    error = _first_error(status)
    return StatusUpdate(
        external_message_id=message_id,
        status=mapped,
        platform_timestamp=timestamp,
        recipient_id=opt_id(status, "recipient_id") or opt_id(status, "recipient_user_id"),
        raw=status,
        error_code=opt_int(error, "code"),
        error_title=opt_str(error, "title"),
        error_message=_error_message(error),
    )


def _template_status(account_id: str, payload: dict[str, Any], value: dict[str, Any]) -> NormalizedEvent:
    """A template's new status. Meta sends ``message_template_id`` as a number."""
    event = opt_str(value, "event")
    if not event:
        return Ignored(reason="template_status_without_event", raw=value)
    raw_id = value.get("message_template_id")
    template_id = (
        str(raw_id)
        if isinstance(raw_id, int) and not isinstance(raw_id, bool)
        else (raw_id if isinstance(raw_id, str) and raw_id else None)
    )
    reason = opt_str(value, "reason")
    return TemplateStatusUpdate(
        waba_id=opt_id(payload, "waba_id") or account_id,
        template_id=template_id,
        name=opt_str(value, "message_template_name"),
        language=opt_str(value, "message_template_language"),
        event=event.upper()[:64],
        reason=None if reason in (None, "", "NONE") else reason,
        raw=value,
    )


def _platform_error(error: dict[str, Any]) -> PlatformError:
    return PlatformError(
        code=opt_int(error, "code"), title=opt_str(error, "title"), message=_error_message(error), raw=error
    )
