"""Confirmed, persistent, mandatory publishing: ``publish`` returns only once the broker holds the message."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, DeliveryMode
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, DeliveryError
from aio_pika.exceptions import PublishError as ReturnedError

from omni_common.broker.outcomes import PublishError
from omni_common.broker.topology import EVENTS_EXCHANGE

log = structlog.get_logger(__name__)

# A worker waits this long for a confirm (the ingress keeps the 5-s default: Meta waits for its
# answer). A worker's delivery stays unacked while it waits, so waiting costs nothing; giving up
# sooner retries the same events into the same congested broker (seen in a closed-loop bench on a
# busy machine: thousands of 5-s time-outs, each republishing its events, the backlog growing).
WORKER_CONFIRM_TIMEOUT_S = 30.0


class Publisher:
    """Publishes on one confirm channel; many concurrent ``publish`` calls pipeline their confirms.

    ``confirms=False`` is for best-effort fan-out (live notifications): ``publish`` returns once the
    frame is written, and the broker does no confirm bookkeeping for it. Never use it for work.
    """

    def __init__(
        self,
        connection: AbstractConnection,
        *,
        exchange: str = EVENTS_EXCHANGE,
        timeout: float = 5.0,
        confirms: bool = True,
    ) -> None:
        self._connection = connection
        self._exchange_name = exchange
        self._timeout = timeout
        self._confirms = confirms
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._lock = asyncio.Lock()
        self._renewed_at = float("-inf")

    async def start(self) -> None:
        """Open the confirm channel."""
        await self._ensure_channel()

    async def _ensure_channel(self) -> AbstractChannel:
        channel = self._channel
        if channel is not None and not channel.is_closed:
            return channel
        async with self._lock:  # one reopen even when many publishers notice at once
            if self._channel is None or self._channel.is_closed:
                self._exchanges.clear()
                self._channel = await self._connection.channel(
                    publisher_confirms=self._confirms, on_return_raises=self._confirms
                )
            return self._channel

    async def _exchange(self, name: str) -> AbstractExchange:
        channel = await self._ensure_channel()
        if name == "":
            return channel.default_exchange
        ex = self._exchanges.get(name)
        if ex is None:
            # No declare: the topology is declared once elsewhere, and a missing exchange is an error.
            ex = self._exchanges[name] = await channel.get_exchange(name, ensure=False)
        return ex

    async def publish(
        self,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        correlation_id: str | None = None,
        headers: Mapping[str, Any] | None = None,
        exchange: str | None = None,
        mandatory: bool = True,
        confirm_timeout: float | None = None,
    ) -> None:
        """Publish and wait for the broker's confirm; raise ``PublishError`` if it is not confirmed.

        ``mandatory=False`` is for fan-out notifications, where no bound queue (no live inbox) is normal.
        ``confirm_timeout`` overrides the publisher's confirm time-out for this message.
        """
        name = self._exchange_name if exchange is None else exchange
        connected = getattr(self._connection, "connected", None)  # robust connections have this event
        if self._connection.is_closed or (isinstance(connected, asyncio.Event) and not connected.is_set()):
            # Fail fast while the robust connection reconnects: callers (ingress) answer 503 now.
            raise PublishError("broker connection is down")
        message = aio_pika.Message(
            body,
            message_id=message_id,
            correlation_id=correlation_id,
            headers=dict(headers or {}),
            content_type="application/json",
            delivery_mode=DeliveryMode.PERSISTENT,
        )
        try:
            async with asyncio.timeout(confirm_timeout or self._timeout):
                ex = await self._exchange(name)
                await ex.publish(message, routing_key=routing_key, mandatory=mandatory)
        except ReturnedError as exc:
            raise PublishError(f"unroutable: exchange={name!r} routing_key={routing_key!r}") from exc
        except DeliveryError as exc:
            await self._renew_after_nack()
            raise PublishError(
                f"not confirmed (nack): exchange={name!r} routing_key={routing_key!r}"
            ) from exc
        except TimeoutError as exc:
            raise PublishError(f"no confirm within {confirm_timeout or self._timeout}s") from exc
        except CONNECTION_EXCEPTIONS as exc:
            raise PublishError(f"broker unavailable: {exc!r}") from exc

    async def _renew_after_nack(self) -> None:
        """Give up the channel after a nack (at most once a second); the next publish opens another.

        RabbitMQ (seen on 3.10) nacks every later publish of a channel whose first publish to a quorum
        queue arrived while that queue had no leader, i.e. while it elected one after a node died:
        exactly when clients of the dead node reconnect to a live one. Only a new channel recovers.
        Other nacks (a queue refusing at its length limit) cost one channel open per second at most.
        """
        now = time.monotonic()
        if now - self._renewed_at < 1.0:
            return
        self._renewed_at = now
        async with self._lock:
            channel, self._channel = self._channel, None
            self._exchanges.clear()
        if channel is not None and not channel.is_closed:
            log.info("publisher_channel_renewed_after_nack")
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await channel.close()

    async def publish_to_queue(
        self,
        queue: str,
        body: bytes,
        *,
        message_id: str,
        correlation_id: str | None = None,
        headers: Mapping[str, Any] | None = None,
        confirm_timeout: float | None = None,
    ) -> None:
        """Publish straight to ``queue`` through the default exchange (retry and dead-letter copies)."""
        await self.publish(
            queue,
            body,
            message_id=message_id,
            correlation_id=correlation_id,
            headers=headers,
            exchange="",
            confirm_timeout=confirm_timeout,
        )

    async def close(self) -> None:
        """Close the channel (the connection belongs to the caller)."""
        channel, self._channel = self._channel, None
        if channel is not None and not channel.is_closed:
            await channel.close()
