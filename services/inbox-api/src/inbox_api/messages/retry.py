"""Retry on a failed reply: never automatic, always a person's click, audited.

A text is sent again as a new message through the normal reply path (queued, audited ``reply.sent``
like any reply); the failed one stays in the history as it failed, pointing at the new one
(``resent_as``), so it is sent again once. A template or a file goes again as the same message
(``requeue_failed``: a file Meta still holds is not uploaded twice).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.models import Principal
from inbox_api.deps import InboxDeps
from inbox_api.messages.service import publish_and_announce, record_reply
from omni_common.db.tenant_models import ChatMessage
from omni_common.outbound.errors import MessageNotFound, NotRetryable
from omni_common.outbound.replies import QueuedReply, queue_reply
from omni_common.outbound.rich import requeue_failed
from omni_common.tenancy.audit import record


async def _queue_again(
    session: AsyncSession, user: Principal, chat_id: uuid.UUID, message_id: uuid.UUID
) -> tuple[QueuedReply, bool]:
    """The message queued again, and whether it is a new message (True) or the same one."""
    row = (
        await session.execute(select(ChatMessage).where(ChatMessage.id == message_id).with_for_update())
    ).scalar_one_or_none()
    if row is None or row.chat_id != chat_id:
        raise MessageNotFound("no such message")
    if row.kind != "text":
        queued = await requeue_failed(
            session, tenant_id=user.tenant_id, chat_id=chat_id, message_id=message_id
        )
        return queued, False
    if row.direction != "outbound" or row.status != "failed":
        raise NotRetryable("only a message that failed can be sent again")
    if row.resent_as is not None:
        raise NotRetryable("this message was already sent again: see the newer message below it")
    queued = await queue_reply(
        session,
        tenant_id=user.tenant_id,
        chat_id=chat_id,
        text=row.text or "",
        reply_to_message_id=row.reply_to_message_id,
        user_id=user.user_id,
    )
    await session.execute(
        update(ChatMessage).where(ChatMessage.id == message_id).values(resent_as=queued.message_id)
    )
    await record_reply(session, user, queued, None)
    return queued, True


async def retry(deps: InboxDeps, user: Principal, chat_id: uuid.UUID, message_id: uuid.UUID) -> QueuedReply:
    """Send a failed message again (committed with its audit entry ``reply.retried``), then hand it
    to the sender and show it in live inboxes."""
    async with deps.registry.begin(user.tenant_id) as session:
        queued, fresh = await _queue_again(session, user, chat_id, message_id)
        details = {"message_id": str(message_id), "kind": queued.kind}
        if fresh:
            details["new_message_id"] = str(queued.message_id)
        await record(
            session,
            user.actor(),
            "reply.retried",
            target_type="conversation",
            target_id=chat_id,
            details=details,
        )
    await publish_and_announce(deps, queued, event="message.created" if fresh else "message.status")
    return queued
