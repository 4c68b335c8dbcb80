"""Live-update notifications published in the background, so a send never waits on their confirm.

They are best-effort (a lost one costs the inbox a refresh), yet awaiting each confirm tied every send
to the broker's latency: with a busy broker, the sends in flight (prefetch) sat waiting for it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog

from omni_common.contracts import NotificationEvent
from omni_common.contracts.events import NotificationKind

log = structlog.get_logger(__name__)


class BackgroundNotifier:
    """``await notifier(event)`` returns at once; at most ``limit`` publishes are pending at a time."""

    def __init__(self, publish: Callable[[NotificationEvent], Awaitable[None]], *, limit: int = 1000) -> None:
        self._publish = publish
        self._limit = limit
        self._pending: set[asyncio.Task[None]] = set()

    async def __call__(self, event: NotificationEvent) -> None:
        if len(self._pending) >= self._limit:
            await self._send(event)  # the broker is far behind: slow the sends down instead of piling up
            return
        task = asyncio.create_task(self._send(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    @property
    def pending(self) -> int:
        """Publishes not confirmed yet."""
        return len(self._pending)

    async def drain(self) -> None:
        """Wait for the pending publishes (on shutdown, before the broker connection closes)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def _send(self, event: NotificationEvent) -> None:
        try:
            await self._publish(event)
        except Exception as exc:  # the outcome is committed already; the inbox catches up on refresh
            log.warning(
                "notification_not_published",
                tenant_id=str(event.tenant_id),
                kind=event.kind,
                error=f"{type(exc).__name__}: {exc}",
            )


async def emit(
    notify: Callable[[NotificationEvent], Awaitable[None]],
    tenant_id: uuid.UUID,
    kind: NotificationKind,
    *,
    chat_id: uuid.UUID | None,
    message_id: uuid.UUID | None,
    data: dict[str, object],
) -> None:
    """Tell the tenant's live inboxes; a failure is logged, never raised (the outcome is committed)."""
    event = NotificationEvent(
        tenant_id=tenant_id,
        kind=kind,
        chat_id=chat_id,
        message_id=message_id,
        data=data,
        occurred_at=datetime.now(UTC),
    )
    try:
        await notify(event)
    except Exception:  # committed already: a lost live update costs a refresh, not data
        log.warning("notification_not_published", tenant_id=str(tenant_id), kind=kind)
