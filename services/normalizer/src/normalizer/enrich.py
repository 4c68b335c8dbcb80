"""Follow-up work on stored messages: download their media, fetch their sender's profile name.

Runs from its own queue after the message is committed, so the message is visible at once and a
slow, failing or rate-limited Graph API only delays the extra, never the message. Every step is
idempotent: a message whose media is already stored, or a contact that already has a name, is left as is.
"""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx
import structlog
from psycopg.types.json import Jsonb

from normalizer.handler import TenantTransaction
from normalizer.store import Change, Db
from omni_common.broker.outcomes import DeadLetter, Retry
from omni_common.contracts import EnrichMessage, reasons
from omni_common.crypto import KeyRing
from omni_common.graph.client import GraphClient
from omni_common.graph.errors import GraphError
from omni_common.media.storage import MediaStorage
from omni_common.tenancy.accounts import decrypt_token

log = structlog.get_logger(__name__)

MAX_MEDIA_BYTES = 100 * 1024 * 1024  # WhatsApp's largest media (documents)


@dataclass(frozen=True)
class EnrichDeps:
    begin: TenantTransaction
    graph: GraphClient
    storage: MediaStorage
    keyring: KeyRing
    # Plain download of a CDN URL (Messenger/Instagram attachments): no token goes to a CDN.
    fetch_public: Callable[[str], Awaitable[bytes]]
    # Host suffixes attachment URLs may be fetched from (Meta's CDNs); others stay links.
    media_hosts: tuple[str, ...] = ()


def host_allowed(url: str, suffixes: tuple[str, ...]) -> bool:
    """True for an http(s) URL whose host is one of ``suffixes`` or a subdomain of one."""
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower().rstrip(".")
    return parsed.scheme in ("http", "https") and any(host == s or host.endswith("." + s) for s in suffixes)


@dataclass(frozen=True)
class _Target:
    message_id: uuid.UUID
    chat_id: uuid.UUID
    media: dict[str, Any] | None
    account_id: uuid.UUID
    contact_id: uuid.UUID
    contact_external_id: str
    contact_name: str | None
    profile_fetched_at: Any


# The message, its chat's contact and the account's sealed token, in one statement.
_LOAD = """
    SELECT m.id, m.chat_id, m.media, c.social_account_id, k.id, k.external_id, k.display_name,
           k.profile_fetched_at, a.credentials_encrypted
    FROM chat_messages AS m
    JOIN chats AS c ON c.id = m.chat_id
    JOIN contacts AS k ON k.id = c.contact_id
    JOIN social_accounts AS a ON a.id = c.social_account_id
    WHERE m.id = %(id)s
"""

# Merges the patch into the media document (keys of the patch win).
_SET_MEDIA = """
    UPDATE chat_messages SET media = coalesce(media, jsonb_build_object()) || %(patch)s, updated_at = now()
    WHERE id = %(id)s
"""

# Only a contact still without a name takes the profile's; the chat's earlier messages show it too.
_SET_CONTACT_NAME = """
    UPDATE contacts SET display_name = %(name)s, profile_fetched_at = now(), updated_at = now()
    WHERE id = %(id)s AND display_name IS NULL
"""
_SET_SENDER_NAMES = """
    UPDATE chat_messages SET sender_name = %(name)s, updated_at = now()
    WHERE chat_id = %(chat)s AND direction = 'inbound' AND sender_name IS NULL
"""


async def _load(db: Db, message_id: uuid.UUID) -> tuple[_Target, str | None] | None:
    cursor = await db.execute(_LOAD, {"id": message_id}, prepare=True)
    row = await cursor.fetchone()
    return (_Target(*row[:8]), row[8]) if row else None


def _retry_unless_final(exc: Exception, what: str, *, final: bool) -> None:
    """Temporary failures are retried later through the delay queues, except on the last attempt."""
    retryable = exc.retryable if isinstance(exc, GraphError) else True
    if retryable and not final:
        reason = f"graph_{exc.error_class}" if isinstance(exc, GraphError) else "http_error"
        raise Retry(reason, f"{what}: {exc}") from exc


async def handle_enrich(
    cmd: EnrichMessage, deps: EnrichDeps, *, final_attempt: bool = False
) -> Change | None:
    """Do the fetch ``cmd`` asks for; raise Retry on temporary failures (the queue retries later).

    On the ``final_attempt`` a failure is recorded on the message (media ``failed``) instead, so
    nothing stays ``pending`` forever.
    """
    async with deps.begin(cmd.tenant_id) as db:
        loaded = await _load(db, cmd.message_id)
    if loaded is None:
        raise DeadLetter(reasons.MESSAGE_NOT_FOUND, f"message {cmd.message_id}")
    target, sealed = loaded
    token = decrypt_token(
        deps.keyring, tenant_id=cmd.tenant_id, account_id=target.account_id, ciphertext=sealed
    )
    # The HTTP calls run outside any transaction: no database connection waits on Meta.
    if cmd.what == "media":
        return await _fetch_media(cmd, deps, target, token, final=final_attempt)
    return await _fetch_profile(cmd, deps, target, token, final=final_attempt)


async def _fetch_media(
    cmd: EnrichMessage, deps: EnrichDeps, target: _Target, token: str, *, final: bool
) -> Change | None:
    media = target.media or {}
    if media.get("state") != "pending":
        return None
    try:
        if media.get("media_id"):
            info = await deps.graph.get_media(str(media["media_id"]), token)
            data = await deps.graph.download(info.url, token)
            mime = info.mime_type or media.get("mime_type")
        elif media.get("url"):
            if not host_allowed(str(media["url"]), deps.media_hosts):
                return await _set_media(cmd, deps, target, {"state": "linked", "note": "host not allowed"})
            data = await deps.fetch_public(str(media["url"]))
            mime = media.get("mime_type")
        else:
            return None
    except (GraphError, httpx.HTTPError) as exc:
        _retry_unless_final(exc, "media download", final=final)
        return await _set_media(cmd, deps, target, {"state": "failed", "error": str(exc)[:300]})
    if len(data) > MAX_MEDIA_BYTES:
        return await _set_media(cmd, deps, target, {"state": "failed", "error": "too large"})
    extension = mimetypes.guess_extension(mime or "") or ".bin"
    stored = await deps.storage.put(cmd.tenant_id, f"{target.message_id}{extension}", data, mime)
    return await _set_media(
        cmd,
        deps,
        target,
        {
            "state": "stored",
            "storage_key": stored.key,
            "size": stored.size,
            "stored_sha256": stored.sha256,
            "mime_type": mime,
        },
    )


async def _set_media(cmd: EnrichMessage, deps: EnrichDeps, target: _Target, patch: dict[str, Any]) -> Change:
    async with deps.begin(cmd.tenant_id) as db:
        await db.execute(_SET_MEDIA, {"patch": Jsonb(patch), "id": target.message_id}, prepare=True)
    log.info("media_enriched", state=patch["state"], message_id=str(target.message_id))
    return Change("message.updated", target.chat_id, target.message_id, {"media": patch["state"]})


async def _fetch_profile(
    cmd: EnrichMessage, deps: EnrichDeps, target: _Target, token: str, *, final: bool
) -> Change | None:
    if target.contact_name is not None or target.profile_fetched_at is not None:
        return None
    name: str | None = None
    try:
        profile = await deps.graph.get_user_profile(cmd.channel, target.contact_external_id, token)
        candidate = profile.get("name") or profile.get("username")
        name = str(candidate)[:200] if candidate else None
    except (GraphError, httpx.HTTPError) as exc:
        _retry_unless_final(exc, "profile", final=final)
        log.info("profile_unavailable", error=str(exc)[:200])
    async with deps.begin(cmd.tenant_id) as db:
        await db.execute(_SET_CONTACT_NAME, {"name": name, "id": target.contact_id}, prepare=True)
        if name:
            await db.execute(_SET_SENDER_NAMES, {"name": name, "chat": target.chat_id}, prepare=True)
    return (
        Change("message.updated", target.chat_id, target.message_id, {"contact_name": name}) if name else None
    )
