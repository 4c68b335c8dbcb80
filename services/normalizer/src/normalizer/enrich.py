"""Follow-up work on stored messages: download their media, fetch their sender's profile name.

Runs from its own queue after the message is committed, so the message is visible at once and a
slow, failing or rate-limited Graph API only delays the extra, never the message. Every step is
idempotent: a message whose media is already stored, or a contact that already has a name, is left as is.
"""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx
import structlog
from psycopg.types.json import Jsonb

from normalizer import sql
from normalizer.model import Change
from omni_common.broker.outcomes import DeadLetter, Retry
from omni_common.contracts import EnrichMessage, reasons
from omni_common.crypto import KeyRing
from omni_common.graph.client import GraphClient
from omni_common.graph.errors import GraphError
from omni_common.media.download import MediaTooLarge
from omni_common.media.storage import MediaStorage
from omni_common.tenancy.accounts import decrypt_token

log = structlog.get_logger(__name__)

MAX_MEDIA_BYTES = 100 * 1024 * 1024  # WhatsApp's largest media (documents)


# Opens a transaction on one tenant's database (the registry's ``driver_transaction``).
TenantTransaction = Callable[[uuid.UUID], AbstractAsyncContextManager[sql.Db]]


@dataclass(frozen=True)
class EnrichDeps:
    begin: TenantTransaction
    graph: GraphClient
    storage: MediaStorage
    keyring: KeyRing
    # Plain download of a CDN URL (Messenger/Instagram attachments) with a byte cap: no token goes
    # to a CDN. Raises MediaTooLarge past the cap.
    fetch_public: Callable[[str, int], Awaitable[bytes]]
    # Host suffixes media may be fetched from (Meta's CDNs), WhatsApp's Graph-given URLs included:
    # the account token goes with those, so a URL elsewhere is never requested.
    media_hosts: tuple[str, ...] = ()
    max_media_bytes: int = MAX_MEDIA_BYTES  # a parameter so tests need not send 100 MB


def host_allowed(url: str, suffixes: tuple[str, ...]) -> bool:
    """True for an http(s) URL whose host is one of ``suffixes`` or a subdomain of one."""
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower().rstrip(".")
    return parsed.scheme in ("http", "https") and any(host == s or host.endswith("." + s) for s in suffixes)


async def _load(db: sql.Db, message_id: uuid.UUID) -> sql.EnrichTarget | None:
    rows = await sql.fetch(db, sql.LOAD_ENRICH_TARGET, {"id": message_id}, sql.EnrichTarget)
    return rows[0] if rows else None


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
        target = await _load(db, cmd.message_id)
    if target is None:
        raise DeadLetter(reasons.MESSAGE_NOT_FOUND, f"message {cmd.message_id}")
    token = decrypt_token(
        deps.keyring,
        tenant_id=cmd.tenant_id,
        account_id=target.account_id,
        ciphertext=target.credentials,
    )
    # The HTTP calls run outside any transaction: no database connection waits on Meta.
    if cmd.what == "media":
        return await _fetch_media(cmd, deps, target, token, final=final_attempt)
    return await _fetch_profile(cmd, deps, target, token, final=final_attempt)


async def _fetch_media(
    cmd: EnrichMessage, deps: EnrichDeps, target: sql.EnrichTarget, token: str, *, final: bool
) -> Change | None:
    media = target.media or {}
    if media.get("state") != "pending":
        return None
    try:
        if media.get("media_id"):
            info = await deps.graph.get_media(str(media["media_id"]), token)
            if not host_allowed(info.url, deps.media_hosts):
                # Graph's answer decides where the token would go: never off Meta's hosts.
                log.warning("media_host_refused", host=urlparse(info.url).hostname, channel=cmd.channel)
                return await _set_media(cmd, deps, target, {"state": "failed", "error": "host not allowed"})
            if info.file_size is not None and info.file_size > deps.max_media_bytes:
                return await _set_media(cmd, deps, target, {"state": "failed", "error": "too large"})
            data = await deps.graph.download(info.url, token, max_bytes=deps.max_media_bytes)
            mime = info.mime_type or media.get("mime_type")
        elif media.get("url"):
            if not host_allowed(str(media["url"]), deps.media_hosts):
                return await _set_media(cmd, deps, target, {"state": "linked", "note": "host not allowed"})
            data = await deps.fetch_public(str(media["url"]), deps.max_media_bytes)
            mime = media.get("mime_type")
        else:
            return None
    except MediaTooLarge:
        return await _set_media(cmd, deps, target, {"state": "failed", "error": "too large"})
    except (GraphError, httpx.HTTPError) as exc:
        _retry_unless_final(exc, "media download", final=final)
        return await _set_media(cmd, deps, target, {"state": "failed", "error": str(exc)[:300]})
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


async def _set_media(
    cmd: EnrichMessage, deps: EnrichDeps, target: sql.EnrichTarget, patch: dict[str, Any]
) -> Change:
    async with deps.begin(cmd.tenant_id) as db:
        await sql.run(db, sql.SET_MEDIA, {"patch": Jsonb(patch), "id": target.message_id})
    log.info("media_enriched", state=patch["state"], message_id=str(target.message_id))
    return Change("message.updated", target.chat_id, target.message_id, {"media": patch["state"]})


async def _fetch_profile(
    cmd: EnrichMessage, deps: EnrichDeps, target: sql.EnrichTarget, token: str, *, final: bool
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
        await sql.run(db, sql.SET_CONTACT_NAME, {"name": name, "id": target.contact_id})
        if name:
            await sql.run(db, sql.SET_SENDER_NAMES, {"name": name, "chat": target.chat_id})
    return (
        Change("message.updated", target.chat_id, target.message_id, {"contact_name": name}) if name else None
    )
