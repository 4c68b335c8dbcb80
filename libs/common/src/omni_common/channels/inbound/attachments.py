"""The body of a Messenger/Instagram ``message``: its kind, text, attachments and choices."""

from __future__ import annotations

from typing import Any

from omni_common.channels.inbound.extract import as_list, coordinate, opt_dict, opt_str
from omni_common.channels.inbound.model import Interactive, Location, MediaRef

MEDIA_KINDS = {"image": "image", "audio": "audio", "video": "video", "file": "document", "sticker": "sticker"}
# Links to Instagram/Facebook content: shown as a link, never downloaded.
SHARE_TYPES = frozenset(
    {"share", "ig_post", "post", "reel", "ig_reel", "story", "ig_story", "media", "fallback", "template"}
)


def _attachment(attachment: dict[str, Any]) -> tuple[str, MediaRef | None, Location | None]:
    """Return (message kind, media, location) for one attachment."""
    atype = opt_str(attachment, "type") or "unknown"
    payload = opt_dict(attachment, "payload") or {}
    # Link shares ("fallback") put the url on the attachment itself, with a null payload.
    url = opt_str(payload, "url") or opt_str(attachment, "url")
    title = opt_str(attachment, "title") or opt_str(payload, "title")
    if atype in MEDIA_KINDS:
        # Until Aug 2026 Messenger also marks stickers as images carrying a sticker_id.
        kind = "sticker" if atype == "image" and "sticker_id" in payload else MEDIA_KINDS[atype]
        return kind, MediaRef(kind=kind, url=url), None
    if atype == "story_mention":
        # Meta forbids storing story media: keep the CDN link only, flagged for the renderer.
        return "story_mention", MediaRef(kind="story_mention", url=url, is_story=True), None
    if atype in SHARE_TYPES:
        return "share", MediaRef(kind=atype[:32], url=url, caption=title), None
    if atype == "location":
        coordinates = opt_dict(payload, "coordinates") or {}
        location = Location(
            latitude=coordinate(coordinates, "lat", 90, "coordinates"),
            longitude=coordinate(coordinates, "long", 180, "coordinates"),
            name=title,
            url=url,
        )
        return "location", None, location
    return "unsupported", MediaRef(kind=atype[:32], url=url), None


def message_body(message: dict[str, Any], is_story_reply: bool) -> dict[str, Any]:
    """Return the kind-specific ``InboundMessage`` fields of a Messenger/Instagram message."""
    text = opt_str(message, "text")
    parsed = [
        _attachment(a) for a in as_list(message.get("attachments"), "attachments") if isinstance(a, dict)
    ]
    if any(kind == "sticker" for kind, _, _ in parsed):
        # During the sticker transition the same sticker also arrives as a plain image.
        parsed = [p for p in parsed if p[0] != "image"]
    media = [m for _, m, _ in parsed if m is not None]
    body: dict[str, Any] = {
        "text": text,
        "media": media[0] if media else None,
        "extra_media": media[1:],
        "location": next((loc for _, _, loc in parsed if loc is not None), None),
    }
    quick_reply = opt_dict(message, "quick_reply")
    if message.get("is_unsupported") is True:
        body["kind"] = "unsupported"
    elif is_story_reply:
        body["kind"] = "story_reply"
    elif quick_reply is not None:
        body["kind"] = "quick_reply"
        body["interactive"] = Interactive(
            kind="quick_reply", payload=opt_str(quick_reply, "payload"), title=text
        )
    elif parsed:
        body["kind"] = parsed[0][0]
    elif text is not None:
        body["kind"] = "text"
    else:
        body["kind"] = "unsupported"
    return body
