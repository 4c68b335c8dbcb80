"""Outbound messages as the API shows them: the template filled in, the files sent."""

from __future__ import annotations

import uuid
from typing import Any


def template_view(template: dict[str, Any] | None) -> dict[str, Any] | None:
    """A template send as the API shows it: name, language and the values filled in."""
    if not template:
        return None
    return {
        "name": template.get("name"),
        "language": template.get("language"),
        "parameters": template.get("parameters") or {},
        "header": template.get("header"),
        "buttons": template.get("buttons") or [],
    }


def attachments_view(message_id: uuid.UUID, media: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A file we sent, as the API shows it: where to get it back, its type, name and size."""
    if not media or media.get("direction") != "outbound":
        return []
    return [
        {
            "url": f"/api/media/{message_id}",
            "mime_type": media.get("mime_type"),
            "filename": media.get("filename"),
            "size": media.get("size"),
            "kind": media.get("kind"),
        }
    ]
