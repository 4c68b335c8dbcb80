"""What ``GraphClient`` returns, and how each value is read from Graph's JSON answer.

Meta's answers are loosely typed (ids as strings or numbers, fields missing when a permission was
not granted): every reader here takes what it finds and falls back, so a surprising answer becomes
an empty or absent value, or a classified ``GraphError``, never a ``KeyError`` deep in a worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from omni_common.graph.errors import ErrorClass, GraphError
from omni_common.graph.usage import Usage


@dataclass(frozen=True)
class SendResult:
    """Meta accepted the message (not yet delivered): its id, the raw answer, the usage headers."""

    external_message_id: str
    raw: dict[str, Any]
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class AccountInfo:
    """Display name of a connected account (WA verified name, Page name, IG username)."""

    display_name: str
    raw: dict[str, Any]


@dataclass(frozen=True)
class MediaInfo:
    """Where to download a media object (the URL is valid for about 5 minutes)."""

    url: str
    mime_type: str | None
    sha256: str | None
    file_size: int | None


@dataclass(frozen=True)
class TokenInfo:
    """Result of ``debug_token``; ``expires_at`` is None when the token never expires."""

    is_valid: bool
    expires_at: datetime | None
    scopes: tuple[str, ...] = ()
    error_code: int | None = None  # Meta's data.error.code when the token is invalid
    error_message: str | None = None
    app_id: str | None = None  # the Meta app the token was issued to
    # granular_scopes: permission -> the target ids (Pages, Instagram accounts, WABAs) it was granted on
    targets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    kind: str | None = None  # debug_token's type: USER, PAGE, SYSTEM_USER, APP


def message_id(channel: str, data: dict[str, Any]) -> str | None:
    """The id of a sent message: WhatsApp's ``messages[0].id``, Messenger's/Instagram's ``message_id``."""
    if channel == "whatsapp":
        messages = data.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        mid = first.get("id") if isinstance(first, dict) else None
    else:
        mid = data.get("message_id")
    return mid if isinstance(mid, str) and mid else None


def account_info(channel: str, account_id: str, data: dict[str, Any]) -> AccountInfo:
    """An account's display name from its fields (the id when Meta gives none)."""
    if channel == "whatsapp":
        name = data.get("verified_name") or data.get("display_phone_number")
    elif channel == "instagram":
        name = data.get("username") or data.get("name")
    else:
        name = data.get("name")
    return AccountInfo(display_name=str(name or account_id), raw=data)


def media_info(data: dict[str, Any]) -> MediaInfo:
    """A WhatsApp media object's download URL and what Meta says of the file."""
    url = data.get("url")
    if not isinstance(url, str) or not url:
        raise GraphError("media answer has no url", raw=data, error_class=ErrorClass.PERMANENT)
    size = data.get("file_size")
    return MediaInfo(
        url=url,
        mime_type=data.get("mime_type"),
        sha256=data.get("sha256"),
        file_size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
    )


def token_info(data: dict[str, Any]) -> TokenInfo:
    """``debug_token``'s answer (its ``data`` object) as a ``TokenInfo``."""
    info = json_object(data.get("data"))
    error = json_object(info.get("error"))
    expires = info.get("expires_at")
    expires_at = datetime.fromtimestamp(expires, UTC) if isinstance(expires, int) and expires > 0 else None
    raw_scopes = info.get("scopes")
    scopes: list[Any] = raw_scopes if isinstance(raw_scopes, list) else []
    app_id = info.get("app_id")
    return TokenInfo(
        is_valid=info.get("is_valid") is True,
        expires_at=expires_at,
        scopes=tuple(str(s) for s in scopes),
        error_code=error.get("code") if isinstance(error.get("code"), int) else None,
        error_message=str(error["message"]) if error.get("message") else None,
        app_id=str(app_id) if isinstance(app_id, str | int) else None,
        targets=_granular_targets(info.get("granular_scopes")),
        kind=str(info["type"]) if isinstance(info.get("type"), str) else None,
    )


def _granular_targets(raw: object) -> dict[str, tuple[str, ...]]:
    """``granular_scopes`` as permission -> target ids (entries without targets are left out)."""
    found: dict[str, tuple[str, ...]] = {}
    for item in raw if isinstance(raw, list) else []:
        entry = json_object(item)
        scope, ids = entry.get("scope"), entry.get("target_ids")
        if isinstance(scope, str) and isinstance(ids, list):
            found[scope] = found.get(scope, ()) + tuple(str(i) for i in ids)
    return found


def json_object(value: object) -> dict[str, Any]:
    """A JSON object from Meta's answer, or an empty one when it is anything else."""
    return value if isinstance(value, dict) else {}
