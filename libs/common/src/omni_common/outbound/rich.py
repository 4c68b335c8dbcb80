"""Templates, files, writing first and sending a failed message again: front doors onto the one path.

Each checks what only it knows (the template's values, the file's real type and size, the phone
number), then goes through ``replies.check_can_send`` and ``replies.store_outbound`` like a reply: the
same account and window rules, the same message row and outbox row in the caller's transaction.
Everything is checked before anything is stored, so a refusal leaves nothing half-sent.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from omni_common.contracts import SendReply
from omni_common.db.tenant_models import Chat, ChatMessage, Contact, Outbox, SocialAccount
from omni_common.domain.phones import NotAPhoneNumber, to_e164
from omni_common.graph import MEDIA_KINDS
from omni_common.graph.payloads import CAPTION_MAX_CHARS
from omni_common.media.outbound import CheckedFile, FileRefused, check_file
from omni_common.media.storage import MediaStorage
from omni_common.outbound.errors import (
    AccountInvalid,
    FileRejected,
    MessageNotFound,
    NotRetryable,
    RecipientInvalid,
    TemplateRefused,
)
from omni_common.outbound.replies import (
    OUTBOX_KIND,
    Outbound,
    OutboundKind,
    QueuedReply,
    check_can_send,
    check_text,
    get_chat,
    reply_target,
    store_outbound,
)
from omni_common.wa_templates.model import TemplateInvalid, prepare
from omni_common.wa_templates.store import find_template

log = structlog.get_logger(__name__)

CAPTIONED = ("image", "video", "document")  # WhatsApp media that carry a caption
MAX_FILES = 10
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/3gpp": ".3gp",
    "video/quicktime": ".mov",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/ogg": ".ogg",
}
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]+")


@dataclass(frozen=True)
class TemplateRequest:
    """What the owner asked for: a template by name and language, and the values to fill in."""

    name: str
    language: str
    parameters: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class FileIn:
    """A file as the browser sent it: its bytes and the name it had on the owner's device."""

    content: bytes
    filename: str


def clean_filename(name: str | None) -> str:
    """A file name fit to show and to send as a document's name (no path, no control characters)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFC", _UNSAFE.sub("", base)).strip(" .")
    return base[:200] or "file"


async def queue_template(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    chat_id: uuid.UUID,
    request: TemplateRequest,
    user_id: uuid.UUID,
    reply_to_message_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> QueuedReply:
    """Check the template and its values, then store it like a reply (its text: what the customer reads)."""
    now = now or datetime.now(UTC)
    chat = await get_chat(session, chat_id)
    account, _ = await check_can_send(session, chat, now, kind="template")
    name, language = (request.name or "").strip(), (request.language or "").strip()
    if not name:
        raise TemplateRefused("choose a template", field="template.name")
    if not language:
        raise TemplateRefused("choose the template's language", field="template.language")
    if not account.waba_id:
        raise TemplateRefused(
            "this WhatsApp number has no WhatsApp Business Account id, so its templates are unknown",
            field="template.name",
        )
    template = await find_template(session, account.waba_id, name, language)
    if template is None:
        raise TemplateRefused(
            f"there is no template “{name}” in {language} for this number — press Refresh to fetch "
            "the templates from WhatsApp again",
            field="template.name",
        )
    try:
        prepared = prepare(template, request.parameters)
    except TemplateInvalid as exc:
        raise TemplateRefused(str(exc)[:1].upper() + str(exc)[1:], field=exc.field) from exc
    reply_to_external = await reply_target(session, chat_id, reply_to_message_id)
    out = Outbound(
        "template", prepared.rendered, reply_to_message_id, reply_to_external, template=prepared.stored()
    )
    return await store_outbound(session, chat, out, tenant_id=tenant_id, user_id=user_id, now=now)


def _check_all(channel: str, files: Sequence[FileIn]) -> list[CheckedFile]:
    if not files:
        raise FileRejected("attach a file to send")
    if len(files) > MAX_FILES:
        raise FileRejected(f"send at most {MAX_FILES} files at once")
    checked: list[CheckedFile] = []
    for f in files:
        try:
            checked.append(check_file(channel, f.content, clean_filename(f.filename)))
        except FileRefused as exc:
            raise FileRejected(str(exc)[:1].upper() + str(exc)[1:]) from exc
    return checked


async def queue_files(
    session: AsyncSession,
    storage: MediaStorage,
    *,
    tenant_id: uuid.UUID,
    chat_id: uuid.UUID,
    files: Sequence[FileIn],
    caption: str | None,
    user_id: uuid.UUID,
    reply_to_message_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> list[QueuedReply]:
    """Each file its own message (kept in the tenant's media storage), in order; the caption goes on
    the first WhatsApp photo, video or document, or as a text message after the files where the
    platform has no captions. All files are checked before any is stored."""
    now = now or datetime.now(UTC)
    chat = await get_chat(session, chat_id)
    await check_can_send(session, chat, now, kind="document")
    checked = _check_all(chat.channel, files)
    caption = (caption or "").strip() or None
    on_file = chat.channel == "whatsapp" and checked[0].kind in CAPTIONED
    if caption is not None:
        if on_file and len(caption) > CAPTION_MAX_CHARS:
            raise FileRejected(
                f"a WhatsApp caption can have at most {CAPTION_MAX_CHARS} characters", field="text"
            )
        if not on_file:
            caption = check_text(chat.channel, caption)
    reply_to_external = await reply_target(session, chat_id, reply_to_message_id)
    queued: list[QueuedReply] = []
    for position, (f, file) in enumerate(zip(files, checked, strict=True)):
        message_id = uuid.uuid4()
        key = f"out-{message_id}{_EXTENSIONS.get(file.mime_type, '')}"
        stored = await storage.put(tenant_id, key, f.content, file.mime_type)
        text = caption if (position == 0 and on_file and caption) else ""
        media = {
            "direction": "outbound",
            "kind": file.kind,
            "state": "stored",
            "storage_key": stored.key,
            "mime_type": file.mime_type,
            "filename": file.filename,
            "size": file.size,
            "sha256": stored.sha256,
            "caption": text or None,
        }
        kind = cast(OutboundKind, file.kind)
        out = Outbound(
            kind,
            text,
            reply_to_message_id if position == 0 else None,
            reply_to_external if position == 0 else None,
            media=media,
            message_id=message_id,
        )
        queued.append(await store_outbound(session, chat, out, tenant_id=tenant_id, user_id=user_id, now=now))
    if caption is not None and not on_file:
        out = Outbound("text", caption, None, None)
        queued.append(await store_outbound(session, chat, out, tenant_id=tenant_id, user_id=user_id, now=now))
    log.info("files_queued", chat_id=str(chat_id), files=len(checked), channel=chat.channel)
    return queued


@dataclass(frozen=True)
class Started:
    """Writing first: the conversation (new, or the one the number already had) and the template sent."""

    chat_id: uuid.UUID
    created: bool
    queued: QueuedReply


async def start_conversation(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    account_id: uuid.UUID,
    to: str,
    request: TemplateRequest,
    user_id: uuid.UUID,
    now: datetime | None = None,
) -> Started:
    """WhatsApp only: the customer's contact and conversation (reused when the number is known), and
    the template queued in it. Nothing is written when the number or the template is refused."""
    now = now or datetime.now(UTC)
    account = await session.get(SocialAccount, account_id)
    if account is None:
        raise AccountInvalid("no such connected account")
    if account.platform != "whatsapp":
        raise AccountInvalid(
            "starting a conversation needs a WhatsApp number: Messenger and Instagram customers must "
            "write first"
        )
    try:
        e164 = to_e164(to)
    except NotAPhoneNumber as exc:
        raise RecipientInvalid(str(exc)[:1].upper() + str(exc)[1:]) from exc
    wa_id = e164.removeprefix("+")
    await session.execute(
        insert(Contact)
        .values(social_account_id=account.id, channel="whatsapp", external_id=wa_id, handle=e164)
        .on_conflict_do_nothing(index_elements=[Contact.social_account_id, Contact.external_id])
    )
    contact_id = (
        await session.execute(
            select(Contact.id).where(Contact.social_account_id == account.id, Contact.external_id == wa_id)
        )
    ).scalar_one()
    created = (
        await session.execute(
            insert(Chat)
            .values(social_account_id=account.id, contact_id=contact_id, channel="whatsapp")
            .on_conflict_do_nothing(index_elements=[Chat.social_account_id, Chat.contact_id])
            .returning(Chat.id)
        )
    ).scalar_one_or_none()
    chat_id = (
        created
        or (
            await session.execute(
                select(Chat.id).where(Chat.social_account_id == account.id, Chat.contact_id == contact_id)
            )
        ).scalar_one()
    )
    queued = await queue_template(
        session, tenant_id=tenant_id, chat_id=chat_id, request=request, user_id=user_id, now=now
    )
    log.info("conversation_started", chat_id=str(chat_id), created=created is not None)
    return Started(chat_id, created is not None, queued)


async def requeue_failed(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    chat_id: uuid.UUID,
    message_id: uuid.UUID,
    now: datetime | None = None,
) -> QueuedReply:
    """Send a failed message again: back to ``queued`` with a new outbox row, by the same rules.

    A file keeps what the sender recorded of its upload (Meta's media or attachment id), so it is
    sent again without uploading it again while Meta still holds it (30 days).
    """
    now = now or datetime.now(UTC)
    chat = await get_chat(session, chat_id)
    row = (
        await session.execute(select(ChatMessage).where(ChatMessage.id == message_id).with_for_update())
    ).scalar_one_or_none()
    if row is None or row.chat_id != chat_id:
        raise MessageNotFound("no such message")
    if row.direction != "outbound" or row.status != "failed" or row.kind == "reaction":
        raise NotRetryable("only a message that failed can be sent again")
    await check_can_send(session, chat, now, kind=row.kind)
    row.status, row.status_at, row.error_code, row.error_message = "queued", now, None, None
    row.send_attempted_at = None
    command = SendReply.model_validate(
        {"tenant_id": tenant_id, "message_id": row.id, "channel": chat.channel}
    )
    outbox = Outbox(message_id=row.id, kind=OUTBOX_KIND, payload=command.model_dump(mode="json"))
    session.add(outbox)
    await session.flush()
    log.info("reply_requeued", tenant_id=str(tenant_id), message_id=str(row.id), kind=row.kind)
    kinds = {"text", "template", *MEDIA_KINDS}
    kind = cast(OutboundKind, row.kind) if row.kind in kinds else "text"
    return QueuedReply(
        message_id=row.id,
        chat_id=chat.id,
        tenant_id=tenant_id,
        channel=chat.channel,
        outbox_id=outbox.id,
        command=command,
        text=row.text or "",
        sender_name=row.sender_name or "staff",
        reply_to_message_id=row.reply_to_message_id,
        created_at=row.created_at,
        kind=kind,
        template=row.template,
        media=row.media,
    )
