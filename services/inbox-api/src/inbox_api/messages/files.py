"""Files posted to the reply route (``multipart/form-data``): refused unread when the request is
larger than anything the conversation's platform takes, otherwise read with their names."""

from __future__ import annotations

import uuid

from fastapi import Request
from starlette.datastructures import UploadFile

from inbox_api.auth.models import Principal
from inbox_api.deps import InboxDeps
from omni_common.db.tenant_models import Chat
from omni_common.domain.channels import channel_name
from omni_common.media.outbound import MB, accepted, max_upload_bytes
from omni_common.outbound.errors import ChatNotFound, FileRejected, ReplyTargetInvalid
from omni_common.outbound.rich import MAX_FILES, FileIn

# Room for the multipart framing and the caption around the files.
FORM_OVERHEAD = 1 * MB


async def read_files(
    request: Request, deps: InboxDeps, user: Principal, chat_id: uuid.UUID
) -> tuple[list[FileIn], str | None, uuid.UUID | None]:
    """The posted files, the caption and the quoted message. A body over the platform's largest
    file is refused before it is read (a 200 MB video never reaches the disk)."""
    async with deps.registry.session(user.tenant_id) as session:
        chat = await session.get(Chat, chat_id)
    if chat is None:
        raise ChatNotFound("no such conversation")
    limit = max_upload_bytes(chat.channel)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + FORM_OVERHEAD:
        raise FileRejected(
            f"the upload is {int(length) / MB:.0f} MB; {channel_name(chat.channel)} takes "
            f"{accepted(chat.channel)} (send large files one at a time)"
        )
    form = await request.form(max_files=MAX_FILES, max_fields=10)
    try:
        uploads = [f for f in form.getlist("file") if isinstance(f, UploadFile)]
        files = []
        total = 0
        for upload in uploads:
            content = await upload.read(limit + 1)
            total += len(content)
            if len(content) > limit or total > limit + FORM_OVERHEAD:
                raise FileRejected(
                    f"{upload.filename or 'the file'} is too large; {channel_name(chat.channel)} takes "
                    f"{accepted(chat.channel)}"
                )
            files.append(FileIn(content, upload.filename or "file"))
        caption = form.get("text")
        reply_to = form.get("reply_to")
    finally:
        await form.close()
    try:
        target = uuid.UUID(reply_to) if isinstance(reply_to, str) and reply_to else None
    except ValueError as exc:
        raise ReplyTargetInvalid("the quoted message is not valid") from exc
    return files, caption if isinstance(caption, str) else None, target
