"""Live events from the broker: one exclusive queue per replica on the notifications fanout.

Each replica binds its own auto-delete queue to ``omni.notifications`` and keeps, per tenant, the
connected subscribers and a short ring buffer of recent events. A reconnecting browser sends
``Last-Event-ID``; events still in the buffer are replayed, otherwise it gets ``resync`` and refetches.
A subscriber only ever receives events whose ``tenant_id`` is its own token's tenant.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection, ExchangeType
from pydantic import ValidationError

from omni_common.broker.outcomes import PublishError
from omni_common.broker.publisher import Publisher
from omni_common.contracts import NotificationEvent, decode, encode

log = structlog.get_logger(__name__)
BUFFER_PER_TENANT = 200
SUBSCRIBER_QUEUE = 500


@dataclass(frozen=True)
class LiveEvent:
    """An event as the browser sees it, numbered by this replica."""

    seq: int
    kind: str
    data: bytes  # JSON


@dataclass
class EventHub:
    """Receives notification events from the broker and hands each tenant's to its subscribers."""

    exchange: str
    publisher: Publisher | None = None
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
        exchange = await self._channel.declare_exchange(self.exchange, ExchangeType.FANOUT, durable=True)
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
        try:
            event = decode(NotificationEvent, message.body)
        except ValidationError:
            log.warning("notification_malformed")
            return
        self.dispatch(event)
        if self.on_event is not None:
            self.on_event(event)

    def dispatch(self, event: NotificationEvent) -> None:
        """Buffer an event and hand it to the subscribers of its tenant (and nobody else)."""
        self._seq += 1
        payload = {
            "kind": event.kind,
            "chat_id": str(event.chat_id) if event.chat_id else None,
            "message_id": str(event.message_id) if event.message_id else None,
            "data": event.data,
            "occurred_at": event.occurred_at.isoformat(),
        }
        live = LiveEvent(self._seq, event.kind, orjson.dumps(payload))
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
        if self.publisher is None:
            self.dispatch(event)
            return
        try:
            await self.publisher.publish(
                "", encode(event), message_id=f"note:{uuid.uuid4()}", exchange=self.exchange, mandatory=False
            )
        except PublishError as exc:
            log.warning("notification_not_published", error=str(exc))
            self.dispatch(event)

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
        """Events after ``last_event_id`` still buffered; None when they cannot be known (resync)."""
        if not last_event_id:
            return []
        boot, _, seq_text = last_event_id.partition(":")
        if boot != self.boot or not seq_text.isdigit():
            return None
        seq = int(seq_text)
        buffer = self._buffers.get(tenant_id, deque())
        # Sequence numbers are shared by all tenants, so gaps are normal; only a full buffer whose
        # oldest event is newer than the client's may have dropped some of this tenant's events.
        if len(buffer) == buffer.maxlen and buffer[0].seq > seq + 1:
            return None
        return [e for e in buffer if e.seq > seq]

    def format(self, event: LiveEvent) -> bytes:
        return b"id: %s:%d\nevent: %s\ndata: %s\n\n" % (
            self.boot.encode(),
            event.seq,
            event.kind.encode(),
            event.data,
        )
