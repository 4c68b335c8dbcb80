"""Messenger / Instagram attachments: the Attachment Upload API and attachments in sends.

``POST /me/message_attachments`` (or ``/{page-id}/message_attachments``) with
``{"message": {"attachment": {"type": "image"|"video"|"audio"|"file", "payload": {"url",
"is_reusable": true}}}}`` as JSON, or as ``multipart/form-data`` with that ``message`` field and the
bytes in ``filedata``; answers ``{"attachment_id"}``. A send then uses
``message.attachment.payload.attachment_id`` or ``payload.url``.
https://developers.facebook.com/docs/messenger-platform/reference/attachment-upload-api ,
https://developers.facebook.com/docs/messenger-platform/send-messages/saving-assets
(assets "up to 25 MB", images fetched from a URL 8 MB; audio must be served as ``audio/*``).

Like Meta, the sandbox fetches ``url`` payloads itself, at upload or send time, so an expired signed
URL fails the way it would in production. Refusals (wordings as developers report them; the
subcodes are Meta's Messenger error list, https://developers.facebook.com/docs/messenger-platform/error-codes):
``(#100) Failed to fetch the file from the url`` (subcode 2018008), ``(#100) Attachment size exceeds
allowable limit`` (2018109), ``(#546) The type of file you're trying to attach isn't allowed``,
``(#100) Incorrect number of files uploaded. Must upload exactly one file.``
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from meta_sandbox.access import MESSAGING_SCOPE, acting_account, identify, messaging_target, require_scope
from meta_sandbox.errors import MetaError
from meta_sandbox.graph import check_version, not_found, record, sandbox_state
from meta_sandbox.sniff import MB, sniff
from meta_sandbox.state import Account, SandboxState, new_numeric_id

TYPES = ("image", "video", "audio", "file")
MAX_BYTES = 25 * MB
MAX_IMAGE_URL_BYTES = 8 * MB


@dataclass
class Attachment:
    """A saved asset, usable by the Page (or Instagram account) that uploaded it."""

    attachment_id: str
    account_id: str
    type: str
    mime_type: str | None
    size: int
    sha256: str
    source_url: str | None = None
    created_at: float = field(default_factory=time.time)


def _fetch_failed() -> MetaError:
    return MetaError(100, subcode=2018008, message="(#100) Failed to fetch the file from the url")


def _too_big(limit: int) -> MetaError:
    return MetaError(
        100, subcode=2018109, message=f"(#100) Attachment size exceeds allowable limit ({limit} bytes)"
    )


def _check_content(kind: str, content: bytes, mime: str | None, limit: int) -> str | None:
    """Size and type checks shared by uploads and url sends; returns the sniffed MIME type."""
    if len(content) > limit:
        raise _too_big(limit)
    found = sniff(content) or mime
    family = (found or "").split("/")[0]
    if kind != "file" and family != kind:
        raise MetaError(
            546,
            message="(#546) The type of file you're trying to attach isn't allowed. Please try again "
            "with a different format.",
        )
    return found


async def fetch(http: httpx.AsyncClient, kind: str, url: Any) -> tuple[bytes, str | None]:
    """Download a ``payload.url`` as Meta would (sync, with a timeout); refuse what Meta refuses."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise _fetch_failed()
    limit = MAX_IMAGE_URL_BYTES if kind == "image" else MAX_BYTES
    try:
        async with http.stream("GET", url, timeout=10.0, follow_redirects=True) as response:
            if response.status_code != 200:
                raise _fetch_failed()
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise _too_big(limit)
                chunks.append(chunk)
            mime = response.headers.get("content-type", "").split(";")[0].strip() or None
    except httpx.HTTPError as exc:
        raise _fetch_failed() from exc
    content = b"".join(chunks)
    _check_content(kind, content, mime, limit)
    return content, mime


def _parse_message(raw: Any) -> tuple[str, dict[str, Any]]:
    """``message.attachment``'s type and payload from a JSON object or a form field's JSON string."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise MetaError(100, message="(#100) param message must be a JSON object") from exc
    attachment = raw.get("attachment") if isinstance(raw, dict) else None
    kind = attachment.get("type") if isinstance(attachment, dict) else None
    payload = attachment.get("payload", {}) if isinstance(attachment, dict) else None
    if kind not in TYPES or not isinstance(payload, dict):
        raise MetaError(
            100, message="(#100) param message[attachment][type] must be one of {image, video, audio, file}"
        )
    return kind, payload


async def upload_attachment(ver: str, object_id: str, request: Request) -> JSONResponse:
    """``POST /{ver}/{page-id|ig-id|me}/message_attachments``."""
    entry = await record(request)
    check_version(ver)
    state = sandbox_state(request)
    caller = identify(request)
    account = acting_account(state, caller, object_id)
    if account.channel == "whatsapp":
        raise not_found(object_id, "post")
    require_scope(caller, MESSAGING_SCOPE[account.channel], messaging_target(account))
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=2)
        kind, payload = _parse_message(form.get("message"))
        upload = form.get("filedata")
        if not isinstance(upload, UploadFile):
            raise MetaError(
                100, message="(#100) Incorrect number of files uploaded. Must upload exactly one file."
            )
        content = await upload.read()
        mime = _check_content(kind, content, upload.content_type, MAX_BYTES)
        source = None
    else:
        body = entry["json"] if isinstance(entry["json"], dict) else {}
        kind, payload = _parse_message(body.get("message"))
        content, mime = await fetch(request.app.state.http, kind, payload.get("url"))
        source = payload["url"]
    attachment = save(state, account, kind, content, mime, source)
    entry["response_status"] = 200
    return JSONResponse({"attachment_id": attachment.attachment_id})


def save(
    state: SandboxState, account: Account, kind: str, content: bytes, mime: str | None, source: str | None
) -> Attachment:
    """Keep an asset for later sends."""
    attachment = Attachment(
        attachment_id=new_numeric_id(),
        account_id=account.account_id,
        type=kind,
        mime_type=sniff(content) or mime,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        source_url=source,
    )
    state.attachments[attachment.attachment_id] = attachment
    return attachment


def usable_by(state: SandboxState, attachment: Attachment, account: Account) -> bool:
    """An asset is the uploading Page's, and its linked Instagram account's (same page token)."""
    if attachment.account_id == account.account_id:
        return True
    linked = {account.page_id, account.instagram_id} - {None}
    return attachment.account_id in linked


async def resolve_send_attachment(
    request: Request, account: Account, attachment: dict[str, Any]
) -> dict[str, Any]:
    """Check the attachment of a Messenger/IG send; a reusable url attachment is saved (Send API)."""
    state = sandbox_state(request)
    kind, payload = attachment["type"], attachment["payload"]
    if "attachment_id" in payload:
        saved = state.attachments.get(str(payload["attachment_id"]))
        if saved is None or not usable_by(state, saved, account):
            raise MetaError(100, message="(#100) The attachment_id is not valid for this Page")
        return {"type": kind, "attachment_id": saved.attachment_id, "mime_type": saved.mime_type}
    content, mime = await fetch(request.app.state.http, kind, payload.get("url"))
    resolved: dict[str, Any] = {"type": kind, "url": payload["url"], "mime_type": sniff(content) or mime}
    if payload.get("is_reusable") is True:
        resolved["attachment_id"] = save(state, account, kind, content, mime, payload["url"]).attachment_id
    return resolved
