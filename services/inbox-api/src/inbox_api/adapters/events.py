"""Live events from the broker: one exclusive queue per replica on the notifications fanout.

Each replica binds its own auto-delete queue to ``omni.notifications`` and keeps, per tenant, the
connected subscribers and a short ring buffer of recent events. A reconnecting browser sends
``Last-Event-ID``; events still in the buffer are replayed, otherwise it gets ``resync`` and refetches.
A subscriber only ever receives events whose ``tenant_id`` is its own token's tenant.

Event ids are the notification's key, the same on every replica (the fanout hands every replica
every message): a plain ``NotificationEvent``'s broker message id, or each note's own key in a
``NotificationBatch`` (one tenant's notes published together; every note is its own event). So a
browser whose replica went away catches up on any other one that was running: the shared state is
the broker's fanout, not a store of our own. Two publishers' events may reach two replicas in a
different order, so catch-up also replays the events that arrived in the few seconds before the
browser's last one; every event is a refresh or an idempotent status, so seeing one twice costs
nothing.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
    ExchangeType,
)
from pydantic import ValidationError

from omni_common.broker.outcomes import PublishError
from omni_common.broker.publisher import Publisher
from omni_common.contracts import NotificationEvent, encode, notifications_in

log = structlog.get_logger(__name__)
BUFFER_PER_TENANT = 200
SUBSCRIBER_QUEUE = 500
REORDER_SLACK_S = 3.0  # events that arrived this long before the browser's last one are replayed too


@dataclass(frozen=True)
class LiveEvent:
    """An event as the browser sees it: its id (the same on every replica), and numbered by this one."""

    seq: int
    kind: str
    data: bytes  # JSON
    eid: str = ""
    arrived: float = 0.0  # this replica's monotonic clock


@dataclass
class EventHub:
    """Receives notification events from the broker and hands each tenant's to its subscribers."""

    exchange: str
    publisher: Publisher | None = None
    # False under a least-privilege broker user: the exchange is the administrator's, only looked up.
    declare_exchange: bool = True
    # Told of every event too, without waiting (Web Push alerts: ``push.sender.PushNotifier.offer``).
    on_event: Callable[[NotificationEvent], None] | None = None
    boot: str = field(default_factory=lambda: secrets.token_hex(4))
    _seq: int = field(default=0, init=False)
    _buffers: dict[uuid.UUID, deque[LiveEvent]] = field(default_factory=dict, init=False)
    _subs: dict[uuid.UUID, set[asyncio.Queue[LiveEvent | None]]] = field(default_factory=dict, init=False)
    _channel: AbstractChannel | None = field(default=None, init=False)

    async def start(self, connection: AbstractRobustConnection) -> None:
        """Declare this replica's exclusive queue on the fanout and start consuming."""
        self._channel = await connection.channel()
        exchange: AbstractExchange
        if self.declare_exchange:
            exchange = await self._channel.declare_exchange(self.exchange, ExchangeType.FANOUT, durable=True)
        else:
            exchange = await self._channel.get_exchange(self.exchange, ensure=True)
        # Server-named, exclusive, auto-delete: it lives exactly as long as this replica's connection.
        queue = await self._channel.declare_queue("", exclusive=True, auto_delete=True, durable=False)
        await queue.bind(exchange)
        await queue.consume(self._on_message, no_ack=True)
        log.info("event_hub_started", exchange=self.exchange)

    async def close(self) -> None:
        """Stop consuming and end every open stream."""
        for subs in self._subs.values():
            for q in subs:
                q.put_nowait(None)
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self.receive(message.body, message.message_id)

    def receive(self, body: bytes, message_id: str | None) -> None:
        """Dispatch every notification of a message from the fanout (a plain event or a batch)."""
        try:
            notes = notifications_in(body, message_id)
        except ValidationError:
            log.warning("notification_malformed")
            return
        for key, event in notes:
            self.dispatch(event, key)
            if self.on_event is not None:
                self.on_event(event)

    def dispatch(self, event: NotificationEvent, eid: str | None = None) -> None:
        """Buffer an event and hand it to the subscribers of its tenant (and nobody else)."""
        self._seq += 1
        # Ids go into the stream's "id:" line: printable ASCII without spaces only.
        clean = eid if eid and eid.isascii() and eid.isprintable() and " " not in eid else None
        payload = {
            "kind": event.kind,
            "chat_id": str(event.chat_id) if event.chat_id else None,
            "message_id": str(event.message_id) if event.message_id else None,
            "data": event.data,
            "occurred_at": event.occurred_at.isoformat(),
        }
        live = LiveEvent(
            self._seq,
            event.kind,
            orjson.dumps(payload),
            clean or f"{self.boot}:{self._seq}",
            time.monotonic(),
        )
        self._buffers.setdefault(event.tenant_id, deque(maxlen=BUFFER_PER_TENANT)).append(live)
        for q in list(self._subs.get(event.tenant_id, ())):
            try:
                q.put_nowait(live)
            except asyncio.QueueFull:  # a stuck client: end its stream, it reconnects and catches up
                self._subs[event.tenant_id].discard(q)
                while not q.empty():
                    q.get_nowait()
                q.put_nowait(None)

    async def announce(self, event: NotificationEvent) -> None:
        """Publish an event to every replica (best effort: a lost live event costs a refresh)."""
        eid = f"note:{uuid.uuid4()}"
        if self.publisher is None:
            self.dispatch(event, eid)
            return
        try:
            await self.publisher.publish(
                "", encode(event), message_id=eid, exchange=self.exchange, mandatory=False
            )
        except PublishError as exc:
            log.warning("notification_not_published", error=str(exc))
            self.dispatch(event, eid)

    def subscribe(self, tenant_id: uuid.UUID) -> asyncio.Queue[LiveEvent | None]:
        q: asyncio.Queue[LiveEvent | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subs.setdefault(tenant_id, set()).add(q)
        return q

    def unsubscribe(self, tenant_id: uuid.UUID, q: asyncio.Queue[LiveEvent | None]) -> None:
        subs = self._subs.get(tenant_id)
        if subs is not None:
            subs.discard(q)
            if not subs:
                del self._subs[tenant_id]

    def missed(self, tenant_id: uuid.UUID, last_event_id: str | None) -> list[LiveEvent] | None:
        """Events after ``last_event_id`` (and the few that may have arrived here just before it);
        None when this replica cannot know what the browser missed (it then resyncs)."""
        if not last_event_id:
            return []
        buffer = list(self._buffers.get(tenant_id, ()))
        at = next((i for i in range(len(buffer) - 1, -1, -1) if buffer[i].eid == last_event_id), None)
        if at is None:  # older than the buffer, or from before this replica started
            return None
        since = buffer[at].arrived - REORDER_SLACK_S
        return [e for i, e in enumerate(buffer) if i > at or (i < at and e.arrived >= since)]

    def format(self, event: LiveEvent) -> bytes:
        return b"id: %s\nevent: %s\ndata: %s\n\n" % (event.eid.encode(), event.kind.encode(), event.data)
