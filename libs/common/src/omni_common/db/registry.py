"""Per-tenant engine registry: an AsyncEngine per tenant DB, connections bounded per database server.

A process holds at most ``connections_per_server`` connections to each PostgreSQL server, shared by
all the tenants it serves there (``db/budget.py`` keeps the count). A tenant's engine keeps its
connections open while the budget has room; when another tenant needs one and the server's budget is
spent, the least recently used tenant without a lease gives its connections back (its engine is
disposed and kept, holding no connection: rebuilding an engine costs ~10 ms of CPU, reconnecting a
kept one ~2 ms). A caller that finds every connection in use waits for one, at most
``acquire_timeout_s``; one whose server refuses new connections (full, restarting, down) tries
again for at most ``connect_retry_s`` of that. Then it gets ``ConnectionBudgetExhausted`` /
``DatabaseUnavailable``: the inbox answers 503 with ``Retry-After``, workers retry later.
Nothing is half-written: the caller had no connection yet.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import structlog
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import QueuePool

from omni_common.db.budget import ServerBudgets, Slot
from omni_common.db.catalog import Catalog, TenantRecord
from omni_common.db.connect_errors import connect_refused, moved
from omni_common.db.servers import server_key, tenant_url
from omni_common.db.tenant_lookup import TenantLookup
from omni_common.errors import ConnectionBudgetExhausted, DatabaseUnavailable, TenantHeld

log = structlog.get_logger(__name__)

# How long after an eviction the budget counts as contended: no tenant gets a second connection.
CONTENDED_S = 30.0


def application_name(prefix: str, tenant_id: uuid.UUID) -> str:
    """``application_name`` naming the tenant in pg_stat_activity (PostgreSQL keeps 63 bytes)."""
    return f"{prefix}:{tenant_id.hex[:12]}"[:63]


@dataclass
class _Entry:
    engine: AsyncEngine
    slot: Slot
    # The catalog record the engine's URL was last checked against (a move changes the URL).
    checked: TenantRecord | None = None


@dataclass
class TenantEngineRegistry:
    """Hands out sessions bound to one tenant's database; there is no default tenant."""

    catalog: Catalog
    server_url: str | URL
    connections_per_server: int = 10
    # At most this many connections per tenant (None: up to the server's whole budget). A tenant at
    # its cap waits for one of its own connections instead of taking one from another tenant.
    connections_per_tenant: int | None = None
    acquire_timeout_s: float = 5.0  # longest wait for a connection (budget or server), then refused
    # Longest a server refusing new connections (full, down, a database closed for a move) is tried
    # again within one acquire. Short on purpose: a worker backs off through its delay queues instead,
    # and a caller waiting out a dead server holds a slot that a healthy tenant could use.
    connect_retry_s: float = 2.0
    application_name_prefix: str = "omni"
    tenant_cache_seconds: float = 5.0
    max_idle_engines: int = 0  # engines kept without connections, for reuse
    # A liveness round trip per checkout. A hot, small-statement caller (the outbound sender) may turn
    # it off and handle a stale connection itself; it doubles how long each checkout holds the pool.
    pool_pre_ping: bool = True
    # While a tenant's database is being moved (``tenant_moves``) its writers wait (TenantHeld); a
    # reader (the inbox) goes on reading the source, which the move keeps read-only until the switch.
    read_while_moving: bool = False
    _engines: OrderedDict[uuid.UUID, _Entry] = field(default_factory=OrderedDict, init=False)
    _closing: int = field(default=0, init=False)
    _idle: OrderedDict[uuid.UUID, AsyncEngine] = field(default_factory=OrderedDict, init=False)
    _budgets: ServerBudgets = field(init=False)
    _lookup: TenantLookup = field(init=False)
    _waiting: dict[str, deque[object]] = field(default_factory=dict, init=False)  # tickets per server
    _sleepers: list[asyncio.Future[None]] = field(default_factory=list, init=False)
    _closed: bool = field(default=False, init=False)
    _evicted_at: float = field(default=-1e9, init=False)  # when a tenant last gave its connections back

    def __post_init__(self) -> None:
        self._budgets = ServerBudgets(self.connections_per_server)
        self._lookup = TenantLookup(self.catalog, self.tenant_cache_seconds, self.read_while_moving)

    @property
    def connection_budget(self) -> int:
        """Most connections this registry holds open to one database server."""
        return self.connections_per_server

    async def tenant(self, tenant_id: uuid.UUID | None) -> TenantRecord:
        """The active tenant ``tenant_id`` (briefly cached), or TenantNotFound/NotActive/NoTenantContext
        (``TenantLookup``); TenantHeld while it moves, unless this registry only reads."""
        return await self._lookup.tenant(tenant_id)

    def forget(self, tenant_id: uuid.UUID) -> None:
        """Drop the cached catalog row (e.g. after a status change made by this process)."""
        self._lookup.forget(tenant_id)

    def _new_entry(self, tenant: TenantRecord) -> _Entry:
        url = tenant_url(self.server_url, tenant)
        slot = Slot(server_key(url))
        kept = self._idle.pop(tenant.id, None)
        if kept is not None and kept.url == url:
            return _Entry(kept, slot, tenant)  # disposed when evicted: it reconnects on first use
        engine = create_async_engine(
            url,
            # The budget bounds the pool, not the pool itself: it may hold up to the whole budget
            # and never closes a connection on its own (no overflow to discard on return).
            pool_size=self.connections_per_server,
            max_overflow=0,
            pool_pre_ping=self.pool_pre_ping,
            pool_recycle=1800,
            connect_args={"application_name": application_name(self.application_name_prefix, tenant.id)},
        )
        return _Entry(engine, slot, tenant)

    async def _acquire(self, tenant: TenantRecord, deadline: float) -> _Entry:
        """Lease one connection of ``tenant``'s pool, waiting for the budget until ``deadline``.

        Waiters for a new connection are served first come, first served (per server): a caller that
        arrives while others wait queues behind them, so no one waits past its turn while newcomers
        take the connections that free up. A tenant with an idle connection of its own needs no turn.
        Every change of the counts happens in plain (synchronous) code: a caller cancelled at any
        await can never leave a lease or a place in the line behind.
        """
        ticket: object | None = None
        line: deque[object] | None = None
        try:
            while True:
                if self._closed:
                    raise RuntimeError("the tenant engine registry is closed")
                entry = self._engines.get(tenant.id)
                if entry is not None and entry.checked is not tenant:
                    entry = self._follow(tenant, entry)
                if entry is None:
                    entry = self._engines[tenant.id] = self._new_entry(tenant)
                self._engines.move_to_end(tenant.id)
                if not self._at_tenant_cap(entry.slot):
                    queue = self._waiting.setdefault(entry.slot.server, deque())
                    my_turn = not queue or queue[0] is ticket
                    extra = self._extra_only(entry.slot)
                    # An extra connection comes from free room only, and only while no tenant had to
                    # give its connections back lately: when the budget is contended, one each
                    # (evicting a tenant for another's extra cost the normalizer a third of its CPU
                    # with 50 tenants over 55 connections, docs/performance.md).
                    contended = extra and time.monotonic() - self._evicted_at < CONTENDED_S
                    may = not contended and (entry.slot.idle > 0 or my_turn)
                    if may and self._budgets.try_lease(entry.slot):
                        return entry
                    if not extra:
                        victim = self._victim(entry.slot.server) if my_turn else None
                        if victim is not None:
                            await self._close_idle(victim, spare=tenant.id)
                            continue
                        if deadline - time.monotonic() > 0 and ticket is None:
                            ticket, line = object(), queue
                            queue.append(ticket)
                        await self._wait_for_release(deadline, entry.slot.server)  # all leased
                        continue
                # Wait for one of its own, outside the server's line: a place there would hold up
                # other tenants while this one waits for itself.
                if line is not None:
                    line.remove(ticket)
                    ticket, line = None, None
                    self._wake()
                await self._wait_for_release(deadline, entry.slot.server)
        finally:
            if line is not None:
                line.remove(ticket)
                self._wake()  # the next in line may go now

    def _at_tenant_cap(self, slot: Slot) -> bool:
        cap = self.connections_per_tenant
        return cap is not None and slot.idle == 0 and slot.conns >= cap

    def _extra_only(self, slot: Slot) -> bool:
        """With a cap per tenant (a worker's registry), a tenant that holds connections waits for
        its own rather than evicting another tenant for one more. Without a cap (the inbox, which
        may hold two leases of one tenant at once) eviction stays open to every caller."""
        return self.connections_per_tenant is not None and slot.conns > 0 and slot.idle == 0

    async def _wait_for_release(self, deadline: float, server: str) -> None:
        """Sleep until a connection is released (or a turn frees up); refuse once ``deadline`` passed."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise ConnectionBudgetExhausted(
                f"all {self.connections_per_server} connections to {server} "
                f"stayed in use for {self.acquire_timeout_s:g}s"
            )
        woken = asyncio.get_running_loop().create_future()
        self._sleepers.append(woken)
        try:
            await asyncio.wait_for(woken, left)
        except TimeoutError:
            pass  # re-checked once by the caller, then refused here
        finally:
            if woken in self._sleepers:
                self._sleepers.remove(woken)

    def _follow(self, tenant: TenantRecord, entry: _Entry) -> _Entry | None:
        """``entry`` if its engine still points at the tenant's database, else None (a move switched
        the tenant to another server: the old engine is retired, its budget given back when unused)."""
        if entry.engine.url == tenant_url(self.server_url, tenant):
            entry.checked = tenant
            return entry
        log.info("tenant_engine_follows_move", tenant_id=str(tenant.id), server=tenant.server)
        del self._engines[tenant.id]
        if not entry.slot.leases:
            self._budgets.closed(entry.slot)
            asyncio.ensure_future(entry.engine.dispose())  # noqa: RUF006 - nothing to wait for
        return None  # a leased one is settled and disposed by its last _release

    def _wake(self) -> None:
        """Let every waiter look again (a connection, or a turn, may have freed up)."""
        sleepers, self._sleepers = self._sleepers, []
        for woken in sleepers:
            if not woken.done():
                woken.set_result(None)

    def _victim(self, server: str) -> uuid.UUID | None:
        """The least recently used tenant on ``server`` holding connections and no lease; one holding
        more than one first (the budget then settles at one each instead of evicting in a circle)."""
        free = [
            k
            for k, e in self._engines.items()
            if e.slot.server == server and not e.slot.leases and e.slot.conns
        ]
        return next((k for k in free if self._engines[k].slot.conns > 1), free[0] if free else None)

    async def _close_idle(self, tenant_id: uuid.UUID, *, spare: uuid.UUID) -> None:
        """Close an unleased tenant's connections.

        Its connections stay counted until they are closed, so the server never sees this pool's
        closing connections and the next one's new connection above the budget together. The
        disposal runs to its end even if the caller is cancelled meanwhile (shielded), and the count
        is settled when it has.
        """
        entry = self._engines.pop(tenant_id)
        self._closing += 1
        self._evicted_at = time.monotonic()

        def closed(_task: object) -> None:
            self._closing -= 1
            self._budgets.closed(entry.slot)
            self._keep_idle(tenant_id, entry.engine, spare=spare)
            self._wake()

        disposal = asyncio.ensure_future(entry.engine.dispose())
        disposal.add_done_callback(closed)
        await asyncio.shield(disposal)

    def _keep_idle(self, tenant_id: uuid.UUID, engine: AsyncEngine, *, spare: uuid.UUID) -> None:
        """Keep a disposed engine; drop the oldest kept ones, but not ``spare``'s (about to be used)."""
        if self.max_idle_engines < 1 or tenant_id in self._engines:
            return
        self._idle[tenant_id] = engine
        self._idle.move_to_end(tenant_id)
        limit = self.max_idle_engines + (spare in self._idle)  # spare's leaves the idle set next
        while len(self._idle) > limit:
            oldest = next(k for k in self._idle if k != spare)
            del self._idle[oldest]  # already disposed: nothing left to close

    def _release(self, tenant_id: uuid.UUID, entry: _Entry) -> None:
        """End a lease (synchronous: nothing can interrupt it halfway)."""
        pool = entry.engine.pool
        # With its last lease ended every connection of the pool is back in it: what the pool
        # really holds corrects the count (a connection that failed to open, or was dropped).
        pooled = pool.checkedin() if isinstance(pool, QueuePool) else None
        self._budgets.release(entry.slot, pooled)
        current = self._engines.get(tenant_id)
        if current is not entry and entry.slot.leases == 0 and entry.slot.conns:
            # Replaced meanwhile (registry closing, or the tenant moved): not counted any more.
            self._budgets.closed(entry.slot)
            asyncio.ensure_future(entry.engine.dispose())  # noqa: RUF006 - nothing to wait for
        elif current is entry and not entry.slot.leases and not entry.slot.conns:
            # Nothing open (its connection failed or was dropped): kept like an evicted engine.
            del self._engines[tenant_id]
            self._keep_idle(tenant_id, entry.engine, spare=tenant_id)
        # Waiters wait for a connection to free up; only wake them when one may have: waking
        # hundreds of them on every release cost real CPU under load.
        if entry.slot.leases == 0 or entry.slot.idle > 0:
            self._wake()

    async def _connect(self, entry: _Entry, deadline: float) -> AsyncConnection:
        """A connection of ``entry``'s pool; a server refusing new ones is retried until ``deadline``."""
        delay = 0.05
        while True:
            try:
                return await entry.engine.connect()
            except DBAPIError as exc:
                left = deadline - time.monotonic()
                if moved(exc):
                    raise  # no use waiting: the database is not there (``_lease`` asks the catalog)
                if not connect_refused(exc) or left <= 0:
                    if connect_refused(exc):
                        raise DatabaseUnavailable(
                            f"the database server refused connections: {exc.orig}"
                        ) from exc
                    raise
                log.info("tenant_db_connect_retry", server=entry.slot.server, error=str(exc.orig)[:200])
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, 1.0)

    @asynccontextmanager
    async def _lease(self, tenant_id: uuid.UUID | None) -> AsyncIterator[tuple[_Entry, AsyncConnection]]:
        tenant = await self.tenant(tenant_id)
        deadline = time.monotonic() + self.acquire_timeout_s
        entry = await self._acquire(tenant, deadline)
        try:
            conn = await self._connect(entry, min(deadline, time.monotonic() + self.connect_retry_s))
            try:
                yield entry, conn
            finally:
                await conn.close()  # back to the pool (or dropped, if it broke)
        except Exception as exc:
            if moved(exc) and await self._lookup.moved_since(tenant):
                # What this process cached of the tenant is out of date: a move froze its database
                # (or dropped it after the switch). This write waits, and finds it next time.
                raise TenantHeld(f"tenant {tenant.slug}'s database is being or was moved") from exc
            raise
        finally:
            self._release(tenant.id, entry)

    @asynccontextmanager
    async def session(self, tenant_id: uuid.UUID | None) -> AsyncIterator[AsyncSession]:
        """An AsyncSession on ``tenant_id``'s database (commit yourself, or use :meth:`begin`)."""
        # Bound to the leased connection: the session begins and commits its own transactions on it,
        # and never opens a second connection behind the budget's back.
        async with (
            self._lease(tenant_id) as (_entry, conn),
            AsyncSession(bind=conn, expire_on_commit=False) as session,
        ):
            yield session

    @asynccontextmanager
    async def begin(self, tenant_id: uuid.UUID | None) -> AsyncIterator[AsyncSession]:
        """A session inside a transaction: committed on success, rolled back on error."""
        async with self.session(tenant_id) as session, session.begin():
            yield session

    @asynccontextmanager
    async def driver_connection(
        self, tenant_id: uuid.UUID | None
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """The tenant's psycopg connection in autocommit mode, from the same pool as :meth:`session`.

        For the hottest writer (the normalizer's plain SQL): SQLAlchemy's connection, transaction and
        result objects cost it more client CPU per batch than its statements (``bench writepath``).
        Each statement commits on its own unless run inside ``db.transaction()``, so a write that is
        one statement needs no BEGIN and COMMIT round trips. A connection found broken is dropped.
        """
        async with self._lease(tenant_id) as (_entry, conn):
            raw = await conn.get_raw_connection()
            db: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
            try:
                await db.set_autocommit(True)
                yield db
            finally:
                try:
                    await db.set_autocommit(False)  # as the pool hands it to SQLAlchemy callers
                except psycopg.Error:  # broken, or left mid-statement: not fit for the next caller
                    await conn.invalidate()

    @asynccontextmanager
    async def driver_transaction(
        self, tenant_id: uuid.UUID | None
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """:meth:`driver_connection` inside one transaction: committed on success, rolled back on error."""
        async with self.driver_connection(tenant_id) as db, db.transaction():
            yield db

    async def close(self) -> None:
        """Dispose every engine (waits for nobody: call after the work is done)."""
        self._closed = True
        engines = [e.engine for e in self._engines.values()]
        self._engines.clear()
        self._idle.clear()
        self._wake()
        for engine in engines:
            await engine.dispose()

    def stats(self) -> dict[str, int]:
        """Engines and connections now (for metrics and tests)."""
        return {
            "engines": len(self._engines),
            "leased": sum(1 for e in self._engines.values() if e.slot.leases),
            "connections": sum(e.slot.conns for e in self._engines.values()),
            "closing": self._closing,
            "idle": len(self._idle),
        }
