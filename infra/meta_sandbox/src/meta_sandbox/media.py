"""WhatsApp media upload (``POST /{phone-number-id}/media``) and media references in sends.

Upload: ``multipart/form-data`` with ``file``, ``type`` (the MIME type; the file part's own
``Content-Type`` is taken when the field is absent, as in Meta's ``-F 'file=@x;type=…'`` example)
and ``messaging_product=whatsapp``; answers ``{"id": "<media-id>"}``.
https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#upload-media

Refusals, checked in this order:

1. a type WhatsApp does not take: ``(#100) Param file must be a file with one of the following
   types: …. Received file of type '…'.`` (the wording developers report; not on Meta's pages);
2. bytes that are not the declared type — sniffed from the content, the file name is ignored, as
   Meta does ("mismatched MIME type (131053)", media reference page): ``(#131053) Media upload
   error``; an OGG that is not Opus counts as mismatched (Meta: "OPUS codecs only");
3. over the type's size limit (image 5 MB, video/audio 16 MB, document 100 MB, sticker 100 KB or
   500 KB animated): ``(#131053) Media upload error`` with the limit in ``error_data.details``
   (Meta's pages give the limits, not the code for this case: the sandbox uses the upload error).

A send by ``id`` must name media uploaded on the same WABA's numbers, else ``(#100)`` "… is not a
valid whatsapp business account media attachment ID" (wording developers report).
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from meta_sandbox.access import acting_account, identify, messaging_target, require_scope
from meta_sandbox.errors import MetaError
from meta_sandbox.graph import check_version, not_found, record, sandbox_state
from meta_sandbox.sniff import ANIMATED_STICKER_MAX, WHATSAPP_TYPES, is_animated_webp, matches, sniff
from meta_sandbox.state import Account, Media, SandboxState, new_numeric_id


def upload_error(details: str) -> MetaError:
    """``131053`` with Meta's title and the sandbox's reason in ``error_data.details``."""
    error = MetaError(131053, message="(#131053) Media upload error", whatsapp=True)
    error.body["error"]["error_data"]["details"] = details
    return error


def _bad(message: str) -> MetaError:
    return MetaError(100, message=f"(#100) {message}", whatsapp=True)


def check_upload(declared: str, content: bytes) -> None:
    """Meta's checks of one WhatsApp upload (see the module docstring)."""
    rule = WHATSAPP_TYPES.get(declared)
    if rule is None:
        allowed = ", ".join(sorted(WHATSAPP_TYPES))
        raise _bad(
            f"Param file must be a file with one of the following types: {allowed}. "
            f"Received file of type '{declared}'."
        )
    if not matches(declared, content):
        found = sniff(content) or "unknown"
        raise upload_error(f"The file's content is {found}, not the declared {declared}.")
    limit = ANIMATED_STICKER_MAX if declared == "image/webp" and is_animated_webp(content) else rule.max_bytes
    if len(content) > limit:
        raise upload_error(
            f"The file is {len(content)} bytes; a {rule.kind} ({declared}) may be at most {limit} bytes."
        )


async def upload_media(ver: str, object_id: str, request: Request) -> JSONResponse:
    """``POST /{ver}/{phone-number-id}/media``."""
    entry = await record(request)
    check_version(ver)
    state = sandbox_state(request)
    caller = identify(request)
    account = acting_account(state, caller, object_id)
    if account.channel != "whatsapp":
        raise not_found(object_id, "post")
    require_scope(caller, "whatsapp_business_messaging", messaging_target(account))
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise _bad("The parameter file is required.")
    form = await request.form(max_files=2)
    if form.get("messaging_product") != "whatsapp":
        raise _bad("The parameter messaging_product is required.")
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise _bad("The parameter file is required.")
    declared_field = form.get("type")
    declared = declared_field if isinstance(declared_field, str) and declared_field else upload.content_type
    if not declared:
        raise _bad("The parameter type is required.")
    content = await upload.read()
    check_upload(declared, content)
    media = Media(
        media_id=new_numeric_id(),
        content=content,
        mime_type=declared,
        sha256=hashlib.sha256(content).hexdigest(),
        account_id=account.account_id,
        filename=upload.filename,
    )
    state.media[media.media_id] = media
    entry["response_status"] = 200
    entry["upload"] = {"media_id": media.media_id, "mime_type": declared, "size": len(content)}
    return JSONResponse({"id": media.media_id})


def check_media_reference(
    state: SandboxState, account: Account, kind: str, ref: Any, where: str
) -> dict[str, Any]:
    """Validate ``{"id"}`` or ``{"link"}`` of a media send (or a template's media header)."""
    if not isinstance(ref, dict) or ("id" in ref) == ("link" in ref):
        raise _bad(f"Param {where} must contain exactly one of id or link")
    if "link" in ref:
        link = ref["link"]
        if not isinstance(link, str) or not link.startswith(("http://", "https://")):
            raise _bad(f"Param {where}['link'] must be a valid URL")
        return {"link": link}
    media = state.media.get(str(ref["id"]))
    if media is None or not _same_waba(state, account, media):
        details = f"Param {where}['id'] is not a valid whatsapp business account media attachment ID"
        error = _bad("Invalid parameter")
        error.body["error"]["error_data"]["details"] = details
        raise error
    rule = WHATSAPP_TYPES.get(media.mime_type)
    if rule is not None and rule.kind != kind:
        raise upload_error(f"Media {media.media_id} is {media.mime_type}, which cannot be sent as {kind}.")
    return {"id": media.media_id, "mime_type": media.mime_type, "filename": media.filename}


def _same_waba(state: SandboxState, account: Account, media: Media) -> bool:
    """Media uploaded on this number, or another number of its WABA (seeded media without owner too)."""
    if media.account_id in (None, account.account_id):
        return True
    owner = state.accounts.get(("whatsapp", media.account_id))
    return owner is not None and owner.waba_id is not None and owner.waba_id == account.waba_id
