"""Live-update notifications of the sender's outcomes: handed to the coalescing fan-out
(``broker/notifications.py``, composed in ``main.py``), so a send never waits on the broker for them.

They are best-effort (a lost one costs the inbox a refresh), yet awaiting each publish tied every send
to the broker's latency: with a busy broker, the sends in flight (prefetch) sat waiting for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog

from omni_common.contracts import NotificationEvent
from omni_common.contracts.events import NotificationKind

log = structlog.get_logger(__name__)


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
