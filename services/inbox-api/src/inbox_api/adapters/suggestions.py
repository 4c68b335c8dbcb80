"""The ``SuggestReply`` RPC to ai-suggester over RabbitMQ (direct reply-to, bounded wait)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from pydantic import ValidationError

from omni_common.contracts import decode, encode
from omni_common.contracts.assistant import SuggestionReply, SuggestReply
from omni_common.contracts.routing import AI_REQUESTS, routing_key

log = structlog.get_logger(__name__)
REPLY_TO = "amq.rabbitmq.reply-to"  # RabbitMQ direct reply-to: no reply queue to declare or clean up
NO_SUGGESTION = "no suggestion"


class SuggestionClient:
    """RPC over RabbitMQ: publish a ``SuggestReply``, wait (bounded) for its ``SuggestionReply``."""

    def __init__(self, connection: AbstractConnection, *, exchange: str, timeout_s: float = 20.0) -> None:
        self._connection = connection
        self._exchange_name = exchange
        self.timeout_s = timeout_s
        self._channel: AbstractChannel | None = None
        self._waiting: dict[str, asyncio.Future[SuggestionReply]] = {}
        self._lock = asyncio.Lock()

    async def _ensure(self) -> AbstractChannel:
        async with self._lock:
            if self._channel is None or self._channel.is_closed:
                # Direct reply-to needs the consumer (no-ack) on the very channel that publishes.
                channel = await self._connection.channel(publisher_confirms=False)
                queue = await channel.get_queue(REPLY_TO, ensure=False)
                await queue.consume(self._on_reply, no_ack=True)
                self._channel = channel
            return self._channel

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._waiting.pop(message.correlation_id or "", None)
        if future is None or future.done():
            return  # too late: the caller has already answered "no suggestion"
        try:
            future.set_result(decode(SuggestionReply, message.body))
        except ValidationError:
            future.set_result(SuggestionReply(request_id=uuid.uuid4(), reason=NO_SUGGESTION))

    async def ask(self, request: SuggestReply) -> SuggestionReply | None:
        """The suggester's answer, or None on timeout or broker trouble."""
        key = str(request.request_id)
        future: asyncio.Future[SuggestionReply] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        try:
            async with asyncio.timeout(self.timeout_s):
                channel = await self._ensure()
                exchange = await channel.get_exchange(self._exchange_name, ensure=False)
                await exchange.publish(
                    aio_pika.Message(
                        encode(request),
                        message_id=key,
                        correlation_id=key,
                        reply_to=REPLY_TO,
                        content_type="application/json",
                    ),
                    routing_key=routing_key(AI_REQUESTS, request.channel),
                )
                return await future
        except (TimeoutError, aio_pika.exceptions.AMQPError, ConnectionError) as exc:
            log.warning("suggestion_unanswered", error=type(exc).__name__)
            return None
        finally:
            self._waiting.pop(key, None)

    async def close(self) -> None:
        """Close the RPC channel (the connection belongs to the caller)."""
        channel, self._channel = self._channel, None
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await channel.close()
