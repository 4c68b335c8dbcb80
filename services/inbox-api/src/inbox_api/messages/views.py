"""A stored message as the API and the pages show it (media, location, story, quote, reactions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from omni_common.db.tenant_models import ChatMessage


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
    lat, lng = loc.get("latitude"), loc.get("longitude")
    return {
        **{k: loc.get(k) for k in ("latitude", "longitude", "name", "address")},
        "map_url": loc.get("url")
        or f"https://www.openstreetmap.org/?mlat={lat}&mlon={lng}#map=17/{lat}/{lng}",
    }


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
    }
