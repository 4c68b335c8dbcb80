"""Announcing a change to live inboxes, and one browser's server-sent event stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from inbox_api.adapters.events import EventHub
from inbox_api.deps import InboxDeps
from omni_common.contracts import NotificationEvent


async def announce(
    deps: InboxDeps,
    tenant_id: uuid.UUID,
    kind: str,
    chat_id: uuid.UUID | None,
    data: dict[str, Any],
    *,
    by: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
) -> None:
    """Tell every live inbox of this tenant (every replica) that something changed (``by``: who did)."""
    # Validated, not constructed: ``kind`` is checked against the contract's names at run time.
    event = NotificationEvent.model_validate(
        {
            "tenant_id": tenant_id,
            "kind": kind,
            "chat_id": chat_id,
            "message_id": message_id,
            "data": (data | {"by": str(by)}) if by is not None else data,
            "occurred_at": datetime.now(UTC),
        }
    )
    await deps.hub.announce(event)


async def stream(
    hub: EventHub, tenant_id: uuid.UUID, last_event_id: str | None, *, heartbeat_s: float
) -> AsyncIterator[bytes]:
    """The SSE byte stream of one subscriber: catch-up, then live events and heartbeats."""
    q = hub.subscribe(tenant_id)  # subscribed before catching up, so nothing falls in between
    try:
        yield b"retry: 2000\n\n"
        missed = hub.missed(tenant_id, last_event_id)
        sent = 0
        if missed is None:
            yield b'event: resync\ndata: {"reason":"missed events"}\n\n'
        else:
            for caught_up in missed:
                sent = caught_up.seq
                yield hub.format(caught_up)
        yield b"event: ready\ndata: {}\n\n"
        while True:
            try:
                event = await asyncio.wait_for(q.get(), heartbeat_s)
            except TimeoutError:
                yield b": heartbeat\n\n"  # keeps proxies from closing an idle stream
                continue
            if event is None:
                return
            if event.seq > sent:
                yield hub.format(event)
    finally:
        hub.unsubscribe(tenant_id, q)
