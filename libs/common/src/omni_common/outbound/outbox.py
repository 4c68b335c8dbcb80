"""Outbox relay: publish reply commands whose publish after commit never happened (a crash in between).

The inbox writes the message and its ``outbox`` row in one transaction and publishes right after the
commit. This relay, run periodically by the outbound-sender, picks rows still unpublished after a grace
period, publishes each with a confirm, then stamps ``published_at``. A row published twice (the inbox's
own publish raced the relay) is harmless: the sender claims a message only while it is ``queued``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

import structlog
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omni_common.contracts import SendReply
from omni_common.db.tenant_models import Outbox
from omni_common.outbound.commands import CommandMessage, reply_message

log = structlog.get_logger(__name__)

REPLY_KIND = "reply.send"

# Returns once the broker confirmed the message, raises otherwise.
PublishFn = Callable[[CommandMessage], Awaitable[None]]
Begin = Callable[[uuid.UUID], AbstractAsyncContextManager[AsyncSession]]


async def relay_outbox(
    begin: Begin,
    publish: PublishFn,
    tenant_id: uuid.UUID,
    *,
    older_than: timedelta = timedelta(seconds=10),
    limit: int = 100,
    now: datetime | None = None,
) -> int:
    """Publish up to ``limit`` stale unpublished reply rows of a tenant; returns how many."""
    cutoff = (now or datetime.now(UTC)) - older_than
    published = 0
    async with begin(tenant_id) as session:
        # SKIP LOCKED: several sender replicas may sweep the same tenant; each row goes to one of them.
        rows = (
            (
                await session.execute(
                    select(Outbox)
                    .where(
                        Outbox.published_at.is_(None), Outbox.created_at < cutoff, Outbox.kind == REPLY_KIND
                    )
                    .order_by(Outbox.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        for row in rows:
            try:
                command = SendReply.model_validate(row.payload)
            except ValidationError:
                # Not ours to fix here; stamp it so it does not block the sweep forever, and say so loudly.
                log.error("outbox_row_invalid", tenant_id=str(tenant_id), outbox_id=row.id)
                await _stamp(session, row.id)
                continue
            if command.tenant_id != tenant_id:
                log.error("outbox_row_wrong_tenant", tenant_id=str(tenant_id), outbox_id=row.id)
                await _stamp(session, row.id)
                continue
            # The same ids and tenant header as the inbox's own publish (replies.py).
            await publish(reply_message(command))
            await _stamp(session, row.id)
            published += 1
    if published:
        log.info("outbox_relayed", tenant_id=str(tenant_id), published=published)
    return published


async def _stamp(session: AsyncSession, outbox_id: int) -> None:
    await session.execute(update(Outbox).where(Outbox.id == outbox_id).values(published_at=datetime.now(UTC)))
