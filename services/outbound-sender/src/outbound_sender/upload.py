"""Uploading the file of a queued message before its send, once per file while Meta keeps it.

WhatsApp: ``POST /{phone-number-id}/media`` then send by the media id (valid 30 days); Messenger and
Instagram: the Attachment Upload API then send by ``attachment_id``. The id is recorded on the message
(``media.meta_id``) before the send, guarded by the attempt's claim: an attempt that lost its claim
meanwhile (a duplicate command requeued it) stops without sending. A send that fails later, and is
sent again (the inbox's "Try again"), reuses the id: no second upload.

An upload is not a message to the customer: repeating one only leaves an unused copy on Meta, so a
failure that is not Meta refusing the file itself is retried.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import structlog

from omni_common.db.trouble import DATABASE_TROUBLE
from omni_common.graph import ErrorClass, GraphError, plain_reason
from omni_common.wa_templates.notices import send_notice
from outbound_sender.deps import SenderDeps
from outbound_sender.notify import emit
from outbound_sender.store import SendJob

log = structlog.get_logger(__name__)

NOT_STORED = "the file of this message is no longer stored — attach it again"


@dataclass(frozen=True)
class Uploaded:
    """Meta's id of the file (``ref``), or why there is none: ``lost`` (another attempt owns the
    message now: stop without sending), ``error`` (Meta's answer, for the caller to classify) or
    ``problem`` (ours: the file cannot be read)."""

    ref: str | None = None
    lost: bool = False
    error: GraphError | None = None
    problem: str | None = None


async def upload(
    deps: SenderDeps, tenant_id: uuid.UUID, job: SendJob, token: str, *, attempted_at: datetime
) -> Uploaded:
    """Upload the job's file (read from the tenant's media storage) and record Meta's id for it."""
    media = job.media or {}
    key = media.get("storage_key")
    if deps.storage is None or not isinstance(key, str) or not key:
        return Uploaded(problem=NOT_STORED)
    try:
        data = await deps.storage.get(tenant_id, key)
    except (OSError, ValueError):
        return Uploaded(problem=NOT_STORED)
    mime = str(media.get("mime_type") or "application/octet-stream")
    filename = str(media.get("filename") or key)
    try:
        if job.channel == "whatsapp":
            ref = await deps.graph.upload_media(
                job.account_external_id, token, data=data, mime_type=mime, filename=filename
            )
        else:
            ref = await deps.graph.upload_attachment(
                job.account_external_id, token, kind=job.kind, data=data, mime_type=mime, filename=filename
            )
    except GraphError as exc:
        return Uploaded(error=exc)
    patch = {"meta_id": ref, "meta_id_at": deps.clock().isoformat(), "meta_account": job.account_external_id}
    if not await deps.store.record_upload(tenant_id, job.message_id, attempted_at=attempted_at, patch=patch):
        return Uploaded(lost=True)
    return Uploaded(ref=ref)


@dataclass(frozen=True)
class UploadFailure:
    """What a failed upload means for its message: ``retry`` it later, or fail it with ``reason``."""

    retry: bool
    reason: str


def upload_failure(err: GraphError, *, last: bool) -> UploadFailure:
    """Nothing reached the customer: anything but Meta refusing the file itself is worth retrying."""
    if err.retryable or err.error_class is ErrorClass.AMBIGUOUS:
        if not last:
            return UploadFailure(True, plain_reason(err))
        return UploadFailure(False, f"{plain_reason(err).split(' — ')[0]}; the file could not be uploaded")
    return UploadFailure(False, plain_reason(err))


async def tell_owner_template_refused(
    deps: SenderDeps, tenant_id: uuid.UUID, job: SendJob, code: str, reason: str
) -> None:
    """Meta refused the job's template: the owner is told which one and why (stored once, announced
    when new). Best effort: the failure itself is recorded on the message already."""
    template = job.template or {}
    notice = send_notice(str(template.get("name")), str(template.get("language")), code, reason)
    try:
        notice_id = await deps.store.notify_owner(tenant_id, notice, job.account_id)
    except DATABASE_TROUBLE:
        log.warning("template_notice_not_saved", tenant_id=str(tenant_id))
        return
    if notice_id is not None:
        data: dict[str, object] = {
            "notification_id": str(notice_id),
            "kind": notice.kind,
            "channel": job.channel,
        }
        await emit(deps.notify, tenant_id, "notification", chat_id=None, message_id=None, data=data)
