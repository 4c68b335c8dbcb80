"""Announcing a change to live inboxes, and one browser's server-sent event stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from inbox_api.adapters.events import EventHub
from inbox_api.deps import InboxDeps
from omni_common.contracts import NotificationEvent

RECHECK_S = 30.0  # how long a revoked or expired session may keep hearing events, at most


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
    hub: EventHub,
    tenant_id: uuid.UUID,
    last_event_id: str | None,
    *,
    heartbeat_s: float,
    alive: Callable[[], Awaitable[bool]] | None = None,
    recheck_s: float = RECHECK_S,
) -> AsyncIterator[bytes]:
    """The SSE byte stream of one subscriber: catch-up, then live events and heartbeats.

    Every ``recheck_s`` the session is checked again (``alive``): a logout, a password or role
    change, deactivation or the session's expiry closes the stream with a ``signed-out`` event.
    """
    q = hub.subscribe(tenant_id)  # subscribed before catching up, so nothing falls in between
    loop = asyncio.get_running_loop()
    next_check = loop.time() + recheck_s
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
            if alive is not None and loop.time() >= next_check:
                if not await alive():
                    yield b'event: signed-out\ndata: {"reason":"session ended"}\n\n'
                    return
                next_check = loop.time() + recheck_s
            wait = min(heartbeat_s, max(0.0, next_check - loop.time())) if alive else heartbeat_s
            try:
                event = await asyncio.wait_for(q.get(), wait)
            except TimeoutError:
                if alive is not None and loop.time() >= next_check:
                    continue  # time to check the session; the heartbeat can wait for the next round
                yield b": heartbeat\n\n"  # keeps proxies from closing an idle stream
                continue
            if event is None:
                return
            if event.seq > sent:
                yield hub.format(event)
    finally:
        hub.unsubscribe(tenant_id, q)
