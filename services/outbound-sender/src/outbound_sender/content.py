"""What a queued message asks Meta for, decided from its job alone (pure): may it go now, with which
message tag, and as which template or file.

One window rule (``omni_common.domain.reply_window``) with the inbox and the page: a WhatsApp
template goes at any time, anything else only inside the window; on Messenger and Instagram the
human-agent tag stretches it to 7 days, and a send past 24 hours then carries the tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from omni_common.domain import reply_window
from omni_common.domain.accounts import send_refusal
from omni_common.graph import MEDIA_KINDS, MediaContent, PayloadError, TemplateContent, build_send_payload
from outbound_sender.store import SendJob

# Meta keeps an uploaded WhatsApp media id for 30 days; a day of margin before uploading again.
MEDIA_ID_VALID = timedelta(days=29)


@dataclass(frozen=True)
class Content:
    """The parts of a send beyond text: the window's tag, the template, the uploaded file."""

    tag: str | None = None
    template: TemplateContent | None = None
    media: MediaContent | None = None


def refusal(job: SendJob, now: datetime) -> tuple[str, str] | None:
    """(error_code, reason) when the message must not even be tried, else None."""
    refused = send_refusal(job.channel, job.account_status, job.account_active)
    if refused is not None:
        return refused
    win = reply_window.window(job.channel, job.last_inbound_at, now, human_agent=job.human_agent)
    if job.kind == "template":
        return None if win.templates else ("invalid_message", "message templates exist only on WhatsApp")
    if not win.free_form:
        why = reply_window.closed_reason(job.channel, win, human_agent=job.human_agent)
        return "outside_window", f"the 24-hour customer-service window has closed: {why}"
    return None


def tag_for(job: SendJob, now: datetime) -> str | None:
    """The message tag this send needs now (HUMAN_AGENT between 24 hours and 7 days), if any."""
    if job.kind == "template":
        return None
    return reply_window.window(job.channel, job.last_inbound_at, now, human_agent=job.human_agent).tag


def media_ref(job: SendJob, now: datetime) -> str | None:
    """Meta's id of the job's file when one is recorded and still usable, else None (upload it)."""
    media = job.media or {}
    ref = media.get("meta_id")
    if not isinstance(ref, str) or not ref or media.get("meta_account") != job.account_external_id:
        return None
    if job.channel == "whatsapp":
        try:
            at = datetime.fromisoformat(str(media.get("meta_id_at")))
        except ValueError:
            return None
        if now - at >= MEDIA_ID_VALID:
            return None
    return ref


def needs_upload(job: SendJob, now: datetime) -> bool:
    """A file whose Meta id is missing or expired."""
    return job.kind in MEDIA_KINDS and media_ref(job, now) is None


def content_of(job: SendJob, now: datetime, *, ref: str | None = None) -> Content:
    """The send's content; ``ref``: Meta's id of the file (a placeholder checks the shape only)."""
    tag = tag_for(job, now)
    if job.kind == "template":
        t = job.template or {}
        components = t.get("components")
        return Content(
            tag,
            template=TemplateContent(
                name=str(t.get("name") or ""),
                language=str(t.get("language") or ""),
                components=list(components) if isinstance(components, list) else [],
            ),
        )
    if job.kind in MEDIA_KINDS:
        media = job.media or {}
        caption = media.get("caption")
        filename = media.get("filename")
        return Content(
            tag,
            media=MediaContent(
                kind=job.kind,
                ref=ref or media_ref(job, now) or "",
                caption=str(caption) if caption else None,
                filename=str(filename) if filename else None,
            ),
        )
    return Content(tag)


def check_payload(job: SendJob, now: datetime) -> None:
    """Build the request as it will be sent (a file's id not known yet is stood in for);
    ``PayloadError`` when Meta would refuse its shape: then Meta is never called."""
    if job.kind in MEDIA_KINDS and not (job.media or {}).get("storage_key"):
        raise PayloadError("the file of this message is not stored")
    content = content_of(job, now, ref="0" if job.kind in MEDIA_KINDS else None)
    build_send_payload(
        job.channel,
        to=job.recipient,
        text=job.text or "",
        reply_to_external_id=job.reply_to_external_id,
        kind=job.kind,
        template=content.template,
        media=content.media,
        tag=content.tag,
    )
