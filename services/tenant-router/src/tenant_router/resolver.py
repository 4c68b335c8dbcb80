"""Account → tenant resolution with a cache that the catalog invalidates (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import psycopg
import structlog

log = structlog.get_logger(__name__)

R = TypeVar("R")
Key = tuple[str, str]  # (channel, external account id)

# The catalog's triggers send "<channel>:<account id>" (or "*" for a tenant change) on this channel.
CATALOG_CHANNEL = "omni_catalog_changed"


class CachedResolver(Generic[R]):
    """Caches lookups (hits for ``ttl_s``, misses for ``negative_ttl_s``); bounded LRU.

    One lookup per key at a time: a router that starts with a backlog holds hundreds of deliveries
    for the same few accounts, and each used to query the catalog (about five per account in a
    benchmark start); concurrent callers now share the first one's answer.
    """

    def __init__(
        self,
        lookup: Callable[[str, str], Awaitable[R | None]],
        *,
        # The catalog's NOTIFY forgets a changed account at once (and a lost listener forgets all),
        # so the time-out is only a safety net. It was 60 s: a restaurant's account sees an event
        # every few minutes, so nearly every event paid a catalog lookup (at 1,000 tenants in the
        # bench, the router's CPU per event doubled: docs/performance.md, issue 21).
        ttl_s: float = 3600.0,
        negative_ttl_s: float = 5.0,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl = ttl_s
        self._negative_ttl = negative_ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[Key, tuple[float, R | None]] = OrderedDict()
        self._pending: dict[Key, asyncio.Future[R | None]] = {}
        # Bumped by every invalidation: a lookup that started before one is answered, not cached.
        self._generation = 0

    async def resolve(self, channel: str, account_id: str) -> R | None:
        key = (channel, account_id)
        hit = self._entries.get(key)
        if hit is not None and hit[0] > self._clock():
            self._entries.move_to_end(key)
            return hit[1]
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._load(key))
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._settled(key, done))
        # Shielded: a caller that gives up does not cancel the lookup the others wait for.
        return await asyncio.shield(pending)

    async def _load(self, key: Key) -> R | None:
        generation = self._generation
        value = await self._lookup(*key)
        if generation == self._generation:
            ttl = self._ttl if value is not None else self._negative_ttl
            self._entries[key] = (self._clock() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return value

    def _settled(self, key: Key, done: asyncio.Future[R | None]) -> None:
        if self._pending.get(key) is done:
            del self._pending[key]
        if not done.cancelled():
            done.exception()  # retrieved here too: every waiter may have gone

    def invalidate(self, key: Key | None = None) -> None:
        """Forget one account, or everything (``None``)."""
        self._generation += 1
        if key is None:
            self._entries.clear()
            self._pending.clear()
        else:
            self._entries.pop(key, None)
            self._pending.pop(key, None)

    def on_notification(self, payload: str) -> None:
        """Apply a catalog change notification: ``channel:account`` or ``*``."""
        channel, sep, account = payload.partition(":")
        self.invalidate((channel, account) if sep and channel != "*" else None)


async def listen_for_catalog_changes(
    conninfo: str, on_change: Callable[[str], None], *, ready: asyncio.Event | None = None
) -> None:
    """Listen for catalog changes forever; after a lost connection, reconnect and drop the cache."""
    delay = 0.5
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CATALOG_CHANNEL}")
                # Anything may have changed while we were not listening.
                on_change("*")
                if ready is not None:
                    ready.set()
                delay = 0.5
                async for notice in conn.notifies():
                    on_change(notice.payload)
        except asyncio.CancelledError:
            raise
        except (psycopg.Error, OSError) as exc:
            log.warning("catalog_listener_lost", error=str(exc), retry_in_s=delay)
            on_change("*")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
