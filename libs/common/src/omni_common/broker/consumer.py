"""Run a handler over a stage queue: manual ack, delayed retries, dead-lettering, graceful stop.

The handler sees a ``Delivery`` (never an aio-pika message). It returns once its effect is committed,
then the message is acked (a few ms later, with its neighbours: ``broker/acks.py``). ``Retry`` (or
any unexpected exception) republishes a copy into the next delay queue; when retries are spent, or on
``DeadLetter``, the copy goes to the stage's ``.dlq``; on ``DeadLetterParts`` each failed part goes
there alone (a batch's bad events). The copy is confirmed before the original is acked, so a failure
in between duplicates, never loses.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue
from aio_pika.exceptions import ChannelInvalidStateError
from pamqp.common import FieldTable
from prometheus_client import Counter, Histogram

from omni_common.broker import headers as h
from omni_common.broker.acks import ACK_HOLD_S, ACK_INTERVAL_S, Acker
from omni_common.broker.outcomes import DeadLetter, DeadLetterParts, Part, PublishError, Retry
from omni_common.broker.publisher import Publisher
from omni_common.broker.topology import StageQueues, Topology
from omni_common.contracts import reasons
from omni_common.errors import DatabaseUnavailable, TenantHeld

log = structlog.get_logger(__name__)

HANDLED = Counter(
    "omni_messages_handled_total", "Messages handled, by queue and outcome", ["queue", "outcome"]
)
DEAD_LETTERED = Counter(
    "omni_dead_lettered_total",
    "Messages put in a dead-letter queue, by queue and reason",
    ["queue", "reason"],
)
RETRIES = Counter(
    "omni_retries_total",
    "Messages put in a delay queue for another try, by queue and reason (error:<Class> when unexpected)",
    ["queue", "reason"],
)
LATENCY = Histogram(
    "omni_handler_seconds",
    "Handler time per message, by queue",
    ["queue"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# A failure copy waits longer for its confirm than a normal publish: the original stays unacked
# meanwhile (nothing is lost), whereas giving up requeues it, and on a slow broker the redelivered
# original fails and publishes again, a loop that adds load exactly when the broker is behind.
FAILURE_COPY_CONFIRM_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Delivery:
    """One message as a handler sees it."""

    body: bytes
    message_id: str
    correlation_id: str | None
    routing_key: str
    headers: dict[str, Any] = field(hash=False)
    attempt: int  # 1 on the first try; counts our delayed retries
    redelivered: bool
    delivery_count: int = 0  # quorum redeliveries after crashes (x-delivery-count)
    reply_to: str | None = None  # where an RPC request wants its answer (direct reply-to)


Handler = Callable[[Delivery], Awaitable[None]]


def to_delivery(message: AbstractIncomingMessage) -> Delivery:
    """Build the handler's view of an incoming message."""
    hdrs = dict(message.headers or {})
    return Delivery(
        body=message.body,
        message_id=message.message_id or "",
        correlation_id=message.correlation_id,
        routing_key=h.text(hdrs.get(h.ROUTING_KEY)) or message.routing_key or "",
        headers=hdrs,
        attempt=max(1, h.as_int(hdrs.get(h.ATTEMPT), 1)),
        redelivered=bool(message.redelivered),
        delivery_count=h.as_int(hdrs.get(h.DELIVERY_COUNT), 0),
        reply_to=message.reply_to,
    )


class ConsumerRunner:
    """Consume one stage queue with a handler until ``stop``."""

    def __init__(
        self,
        connection: AbstractConnection,
        *,
        queue: str,
        handler: Handler,
        topology: Topology,
        prefetch: int,
        publisher: Publisher | None = None,
        name: str,
        stop_timeout: float = 30.0,
        batch_acks: bool = True,
        ack_interval: float = ACK_INTERVAL_S,
        ack_hold: float = ACK_HOLD_S,
        priority: int | None = None,
    ) -> None:
        """``batch_acks``: ack runs of handled deliveries together (``broker/acks.py``); False acks each
        one as its handler returns (for a consumer whose deliveries finish out of order anyway).
        ``priority``: the consumer's ``x-priority`` (tenant shards: ``broker/shards.py``)."""
        self._connection = connection
        self._stage: StageQueues = topology.stage(queue)
        self._handler = handler
        self._prefetch = prefetch
        self._publisher = publisher
        self._own_publisher = publisher is None
        self._name = name
        self._stop_timeout = stop_timeout
        self._arguments: FieldTable | None = {"x-priority": priority} if priority is not None else None
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._in_flight = 0
        # Acks go out in batches (one frame for a run of handled deliveries): see broker/acks.py.
        # At most a quarter of the prefetch waits for an ack: the rest keeps deliveries coming.
        self._acker: Acker | None = None
        if batch_acks:
            self._acker = Acker(interval=ack_interval, hold=ack_hold, max_held=max(1, prefetch // 4))
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def queue(self) -> str:
        """The consumed queue's name."""
        return self._stage.queue

    @property
    def acks_owed(self) -> int:
        """Handled deliveries whose ack is not written yet (sent within ``ack_interval``)."""
        return self._acker.waiting if self._acker is not None else 0

    @property
    def in_flight(self) -> int:
        """Messages being handled right now."""
        return self._in_flight

    async def start(self) -> None:
        """Open the channel and start consuming."""
        if self._publisher is None:
            self._publisher = Publisher(self._connection)
        await self._publisher.start()
        if self._acker is not None:
            self._acker.start()
        self._channel = await self._connection.channel()
        # aiormq runs each delivery's callback in its own task, so up to `prefetch` handlers run
        # concurrently; prefetch is the concurrency bound.
        await self._channel.set_qos(prefetch_count=self._prefetch)
        self._queue = await self._channel.get_queue(self._stage.queue, ensure=True)
        self._consumer_tag = await self._queue.consume(
            self._on_message, no_ack=False, arguments=self._arguments
        )
        log.info("consumer_started", queue=self._stage.queue, consumer=self._name, prefetch=self._prefetch)

    async def stop(self) -> None:
        """Stop taking deliveries, let in-flight handlers finish and ack, then close the channel."""
        if self._queue is not None and self._consumer_tag is not None:
            with contextlib.suppress(Exception):  # channel may already be gone; unacked ones are requeued
                await self._queue.cancel(self._consumer_tag)
            self._consumer_tag = None
        try:
            await asyncio.wait_for(self._idle.wait(), self._stop_timeout)
        except TimeoutError:
            log.warning("consumer_stop_timeout", queue=self._stage.queue, in_flight=self._in_flight)
        if self._acker is not None:
            await self._acker.close()  # what was handled is acked before the channel closes
        if self._channel is not None and not self._channel.is_closed:
            with contextlib.suppress(Exception):
                await self._channel.close()
        self._channel = None
        if self._own_publisher and self._publisher is not None:
            await self._publisher.close()
            self._publisher = None
        log.info("consumer_stopped", queue=self._stage.queue, consumer=self._name)

    async def run_until_stopped(self, stop: asyncio.Event) -> None:
        """Start, wait for ``stop`` to be set, then stop gracefully."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._in_flight += 1
        self._idle.clear()
        try:
            delivery = to_delivery(message)
            with structlog.contextvars.bound_contextvars(
                correlation_id=delivery.correlation_id,
                message_id=delivery.message_id,
                queue=self._stage.queue,
            ):
                await self._process(message, delivery)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _process(self, message: AbstractIncomingMessage, delivery: Delivery) -> None:
        queue = self._stage.metric_queue
        started = time.perf_counter()
        try:
            await self._handler(delivery)
        except DeadLetter as exc:
            HANDLED.labels(queue, "dead_letter").inc()
            log.warning("handler_dead_letter", reason=exc.reason, detail=exc.detail, attempt=delivery.attempt)
            await self._settle(message, self._dead_letter(delivery, exc.reason, exc.detail))
        except DeadLetterParts as exc:
            HANDLED.labels(queue, "dead_letter_parts").inc()  # the rest of the message is committed
            await self._settle(message, self._dead_letter_parts(delivery, exc.parts))
        except Retry as exc:
            HANDLED.labels(queue, "retry").inc()
            log.warning("handler_retry", reason=exc.reason, detail=exc.detail, attempt=delivery.attempt)
            await self._settle(message, self._retry(delivery, exc.reason, exc.detail))
        except TenantHeld as exc:
            HANDLED.labels(queue, "held").inc()
            log.info("handler_held", reason=reasons.HELD, detail=str(exc)[:300])
            await self._settle(message, self._hold(delivery, str(exc)[:300]))
        except DatabaseUnavailable as exc:
            # Expected when a tenant database is full or down: back off through the delay queues
            # like any transient failure, with a name operators can alert on, and no traceback.
            HANDLED.labels(queue, "retry").inc()
            log.warning("handler_retry", reason=reasons.TENANT_DB_UNAVAILABLE, detail=str(exc)[:300])
            await self._settle(message, self._retry(delivery, reasons.TENANT_DB_UNAVAILABLE, str(exc)[:300]))
        except Exception as exc:
            HANDLED.labels(queue, "error").inc()
            log.exception("handler_failed", attempt=delivery.attempt)
            reason = f"error:{type(exc).__name__}"
            await self._settle(message, self._retry(delivery, reason, str(exc)))
        else:
            HANDLED.labels(queue, "ok").inc()
            await self._ack(message)
        finally:
            LATENCY.labels(queue).observe(time.perf_counter() - started)

    async def _settle(self, message: AbstractIncomingMessage, copy: Awaitable[None]) -> None:
        """Ack once the copy is confirmed; if it could not be published, requeue the original."""
        try:
            await copy
        except PublishError:
            log.exception("failure_copy_not_published")
            # Requeue rather than drop; the quorum delivery limit still bounds a loop.
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
                if self._acker is not None:
                    self._acker.settled(message.channel, _tag(message))
            return
        await self._ack(message)

    async def _ack(self, message: AbstractIncomingMessage) -> None:
        """Ack now, or owe the broker this delivery's ack: the acker sends it with its neighbours'."""
        if self._acker is None:
            await message.ack()
            return
        try:
            channel = message.channel
        except ChannelInvalidStateError:  # closed meanwhile: the broker redelivers it
            log.info("ack_channel_closed")
            return
        self._acker.handled(channel, _tag(message))

    async def _retry(self, delivery: Delivery, reason: str, detail: str) -> None:
        delays = self._stage.retry_queues
        if delivery.attempt > len(delays):
            await self._dead_letter(delivery, reason, detail)
            return
        hdrs = h.republishable(delivery.headers)
        hdrs[h.ATTEMPT] = delivery.attempt + 1
        hdrs[h.LAST_ERROR] = reason
        hdrs[h.ROUTING_KEY] = delivery.routing_key
        assert self._publisher is not None
        await self._publisher.publish_to_queue(
            delays[delivery.attempt - 1],
            delivery.body,
            message_id=delivery.message_id,
            correlation_id=delivery.correlation_id,
            headers=hdrs,
            confirm_timeout=FAILURE_COPY_CONFIRM_TIMEOUT_S,
        )
        RETRIES.labels(self._stage.metric_queue, reason).inc()

    async def _hold(self, delivery: Delivery, detail: str) -> None:
        """Back through the shortest delay queue with the attempt count unchanged: a tenant being
        moved holds its events for the cut-over, however long, and never dead-letters them."""
        if not self._stage.retry_queues:
            await self._retry(delivery, reasons.HELD, detail)
            return
        hdrs = h.republishable(delivery.headers)
        hdrs[h.ATTEMPT] = delivery.attempt
        hdrs[h.LAST_ERROR] = reasons.HELD
        hdrs[h.ROUTING_KEY] = delivery.routing_key
        assert self._publisher is not None
        await self._publisher.publish_to_queue(
            self._stage.retry_queues[0],
            delivery.body,
            message_id=delivery.message_id,
            correlation_id=delivery.correlation_id,
            headers=hdrs,
            confirm_timeout=FAILURE_COPY_CONFIRM_TIMEOUT_S,
        )
        RETRIES.labels(self._stage.queue, reasons.HELD).inc()

    async def _dead_letter(self, delivery: Delivery, reason: str, detail: str) -> None:
        log.error("message_dead_lettered", reason=reason, dlq=self._stage.dlq, attempt=delivery.attempt)
        await self._park(
            delivery, Part(delivery.body, delivery.message_id, delivery.correlation_id, reason, detail)
        )

    async def _dead_letter_parts(self, delivery: Delivery, parts: tuple[Part, ...]) -> None:
        for part in parts:
            log.error(
                "part_dead_lettered",
                part_id=part.message_id,
                reason=part.reason,
                detail=part.detail,
                dlq=self._stage.dlq,
                parts=len(parts),
            )
        await asyncio.gather(*(self._park(delivery, part) for part in parts))

    async def _park(self, delivery: Delivery, part: Part) -> None:
        """Put ``part`` (the whole message, or one part of it) in the stage's DLQ, confirmed."""
        hdrs = h.dead_letter_headers(
            delivery.headers,
            reason=part.reason,
            detail=part.detail,
            source_queue=self._stage.queue,
            routing_key=delivery.routing_key,
        )
        assert self._publisher is not None
        await self._publisher.publish_to_queue(
            self._stage.dlq,
            part.body,
            message_id=part.message_id,
            correlation_id=part.correlation_id,
            headers=hdrs,
            confirm_timeout=FAILURE_COPY_CONFIRM_TIMEOUT_S,
        )
        DEAD_LETTERED.labels(self._stage.metric_queue, part.reason).inc()


def _tag(message: AbstractIncomingMessage) -> int:
    tag = message.delivery_tag
    if tag is None:  # only a no-ack consumer's messages lack one; this runner never uses no_ack
        raise RuntimeError("a delivery without a delivery tag cannot be acked")
    return tag
