"""Webhooks that arrive together share one broker message and one confirm (``OMNI_INGRESS_SHARE_MS``).

Each request waits for the message holding its body: answered 200 only once the broker confirmed
that message, 503 when it was refused, returned or not confirmed in time (every request in it then
gets the 503, and Meta delivers each again). Windows close on time, bodies or bytes
(``window.py``); closed windows are published at once, so confirms of successive messages are
pipelined on the publisher's one channel. A window of one body goes out as a plain ``RawWebhook``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ingress_webhooks.window import ShareLimits, ShareWindows
from omni_common.contracts.events import encode_raw_webhook_batch

# (channel, message id, body, number of webhooks in it) -> returns once confirmed; raises on refusal.
PublishMessage = Callable[[str, str, bytes, int], Awaitable[None]]


@dataclass(frozen=True)
class _Waiting:
    delivery_id: str
    fields: dict[str, Any]  # ``raw_webhook_fields`` of this webhook
    answer: asyncio.Future[None]


def shared_message(items: list[dict[str, Any]]) -> bytes:
    """One webhook: a plain ``RawWebhook``; several: a ``RawWebhookBatch``."""
    return orjson.dumps(items[0]) if len(items) == 1 else encode_raw_webhook_batch(items)


class SharedStore:
    """``store`` of the ingress route when webhooks may share messages."""

    def __init__(self, publish: PublishMessage, limits: ShareLimits) -> None:
        self._publish = publish
        self._windows: ShareWindows[str, _Waiting] = ShareWindows(limits)
        self._window_s = limits.window_s
        self._sending: set[asyncio.Task[None]] = set()  # strong references until each confirm

    async def store(self, delivery_id: str, channel: str, fields: dict[str, Any]) -> None:
        """Return once the message holding this webhook is confirmed; raise what refused it otherwise."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(delivery_id, fields, loop.create_future())
        added = self._windows.add(channel, waiting, len(fields["body"]), loop.time())
        if added.closed is not None:
            self._send(channel, added.closed)
        elif added.opened:
            loop.call_later(self._window_s, self._expired, channel, added.window_id)
        await waiting.answer

    def _expired(self, channel: str, window_id: int) -> None:
        closed = self._windows.expire(channel, window_id)
        if closed is not None:
            self._send(channel, closed)

    def _send(self, channel: str, items: list[_Waiting]) -> None:
        task = asyncio.ensure_future(self._publish_and_answer(channel, items))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _publish_and_answer(self, channel: str, items: list[_Waiting]) -> None:
        # The first webhook's id names the message: unique, and found in both logs.
        message_id = items[0].delivery_id if len(items) == 1 else f"shared-{items[0].delivery_id}"
        try:
            await self._publish(channel, message_id, shared_message([w.fields for w in items]), len(items))
        except Exception as exc:  # every request in the message learns that it was not stored
            for w in items:
                if not w.answer.done():
                    w.answer.set_exception(exc)
            return
        for w in items:
            if not w.answer.done():  # a request whose client went away
                w.answer.set_result(None)

    async def close(self) -> None:
        """Publish what the open windows hold and wait for every confirm (shutting down)."""
        for channel, items in self._windows.close_all():
            self._send(channel, items)
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
