"""A stored message as the API and the pages show it (media, location, story, quote, reactions), and
everything a customer's structured message carries: the id/payload of the button, list row, quick
reply or postback they picked (``payload``, details in ``choice``: which template and button a
template quick-reply answers), the contact cards they shared (``shared_contacts``). Outbound
messages carry the template filled in (``template``) and the files sent (``attachments``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from inbox_api.web.links import safe_link
from omni_common.db.tenant_models import ChatMessage
from omni_common.outbound.views import attachments_view, template_view


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _media_view(m: ChatMessage) -> dict[str, Any] | None:
    media = m.media
    if not media:
        return None
    state = media.get("state")
    return {
        "kind": media.get("kind"),
        "mime_type": media.get("mime_type"),
        "caption": media.get("caption"),
        "filename": media.get("filename"),
        "state": state,
        "download_url": f"/api/media/{m.id}" if state == "stored" else None,
        # Story media is only linked (Meta's rule): the CDN link, which expires with the story.
        "link": media.get("url") if state == "linked" else None,
    }


def _location(m: ChatMessage) -> dict[str, Any] | None:
    loc = ((m.raw_payload or {}).get("_omni") or {}).get("location")
    if not loc:
        return None
    return {
        **{k: loc.get(k) for k in ("latitude", "longitude", "name", "address")},
        "map_url": safe_link(loc.get("url")) or _map_link(loc.get("latitude"), loc.get("longitude")),
    }


def _map_link(lat: object, lng: object) -> str | None:
    """A map of the shared point, from numbers only (the payload is the customer's)."""
    if not isinstance(lat, int | float | str) or not isinstance(lng, int | float | str):
        return None
    try:
        la, lo = float(lat), float(lng)
    except ValueError:
        return None
    if not (-90 <= la <= 90 and -180 <= lo <= 180):
        return None
    return f"https://www.openstreetmap.org/?mlat={la}&mlon={lo}#map=17/{la}/{lo}"


def _quote(m: ChatMessage | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {
        "id": str(m.id),
        "text": m.text,
        "kind": m.kind,
        "sender_name": m.sender_name,
        "direction": m.direction,
    }


def _extras(m: ChatMessage) -> dict[str, Any]:
    extras = (m.raw_payload or {}).get("_omni")
    return extras if isinstance(extras, dict) else {}


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _choice(m: ChatMessage, quoted: ChatMessage | None) -> dict[str, Any] | None:
    """What the customer picked: the id we (or the template) set, the label they saw, and for a
    template's quick-reply button, which template and which of its buttons."""
    picked = _extras(m).get("interactive")
    if not isinstance(picked, dict) or m.direction != "inbound":
        return None
    choice: dict[str, Any] = {
        "type": picked.get("kind"),
        "id": _text(picked.get("payload")),
        "title": _text(picked.get("title")),
        "description": _text(picked.get("description")),
    }
    template = quoted.template if quoted is not None else None
    if isinstance(template, dict):
        labels = [b.get("text") for b in template.get("buttons") or [] if isinstance(b, dict)]
        title = choice["title"]
        choice["template"] = {
            "name": template.get("name"),
            "language": template.get("language"),
            "button": title,
            "button_index": labels.index(title) if title in labels else None,
        }
    return choice


def _shared_contacts(m: ChatMessage) -> list[dict[str, Any]]:
    """Contact cards a customer shared (WhatsApp ``contacts``): names, phones, emails, company."""
    cards = _extras(m).get("shared_contacts")
    found: list[dict[str, Any]] = []
    for card in cards if isinstance(cards, list) else []:
        if not isinstance(card, dict):
            continue
        raw_name = card.get("name")
        name: dict[str, Any] = raw_name if isinstance(raw_name, dict) else {}
        parts = [_text(name.get(k)) for k in ("first_name", "last_name")]
        phones = [
            {"phone": _text(p.get("phone")), "wa_id": _text(p.get("wa_id")), "type": _text(p.get("type"))}
            for p in card.get("phones") or []
            if isinstance(p, dict) and (p.get("phone") or p.get("wa_id"))
        ]
        emails = [
            _text(e.get("email")) for e in card.get("emails") or [] if isinstance(e, dict) and e.get("email")
        ]
        raw_org = card.get("org")
        org: dict[str, Any] = raw_org if isinstance(raw_org, dict) else {}
        found.append(
            {
                "name": _text(name.get("formatted_name")) or " ".join(p for p in parts if p) or None,
                "phones": phones,
                "emails": [e for e in emails if e],
                "organization": _text(org.get("company")),
            }
        )
    return found


def message_view(
    m: ChatMessage, quoted: ChatMessage | None = None, reactions: list[str] | None = None
) -> dict[str, Any]:
    story = ((m.raw_payload or {}).get("_omni") or {}).get("story")
    return {
        "id": str(m.id),
        "chat_id": str(m.chat_id),
        "channel": m.channel,
        "direction": m.direction,
        "external_message_id": m.external_message_id,
        "sender_name": m.sender_name,
        "sender_handle": m.sender_handle,
        "kind": m.kind,
        "text": m.text,
        "status": m.status,
        "status_at": _iso(m.status_at),
        "error_code": m.error_code,
        "error_message": m.error_message,
        "created_at": _iso(m.platform_timestamp or m.created_at),
        "platform_timestamp": _iso(m.platform_timestamp),
        "media": _media_view(m),
        "location": _location(m),
        "story": story,
        "reaction": m.reaction_emoji if m.kind != "reaction" else None,
        "reactions": reactions or [],
        "reply_to": _quote(quoted) if quoted is not None else None,
        "reply_to_external_id": m.reply_to_external_id,
        "deleted": m.deleted_at is not None or m.kind == "deleted",
        "edited": m.edited_at is not None,
        "sent_by_user_id": str(m.sent_by_user_id) if m.sent_by_user_id else None,
        "payload": choice["id"] if (choice := _choice(m, quoted)) is not None else None,
        "choice": choice,
        "shared_contacts": _shared_contacts(m),
        "template": template_view(m.template),
        "attachments": attachments_view(m.id, m.media),
    }
