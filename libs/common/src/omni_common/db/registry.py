"""Per-tenant engine registry: one small-pooled AsyncEngine per tenant DB, LRU-bounded, leased.

The connection budget of a process is ``max_engines * (pool_size + max_overflow)`` (plus the
catalog's pool): engines are only evicted when nobody leases them, and a task needing a new engine
while every slot is leased waits instead of opening more connections. An evicted engine closes its
connections but is kept (up to ``max_idle_engines``, holding no connection): building an engine
costs ~10 ms of CPU (dialect set-up, statement compilation), reconnecting a kept one ~2 ms, which is
what makes many more active tenants than cached engines affordable.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
import structlog
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.util import greenlet_spawn

from omni_common.db.catalog import Catalog, TenantRecord
from omni_common.dburl import async_url
from omni_common.errors import NoTenantContext, TenantNotActive, TenantNotFound

if TYPE_CHECKING:
    from omni_common.settings import Settings

log = structlog.get_logger(__name__)


def tenant_url(server_url: str | URL, tenant: TenantRecord) -> URL:
    """Async URL of a tenant's database: its own ``db_url`` or the catalog's server."""
    return async_url(tenant.db_url or server_url, database=tenant.db_name)


def application_name(prefix: str, tenant_id: uuid.UUID) -> str:
    """``application_name`` naming the tenant in pg_stat_activity (PostgreSQL keeps 63 bytes)."""
    return f"{prefix}:{tenant_id.hex[:12]}"[:63]


@dataclass
class _Entry:
    engine: AsyncEngine
    leases: int = 0


@dataclass
class _Cached:
    tenant: TenantRecord
    expires: float


@dataclass
class TenantEngineRegistry:
    """Hands out sessions bound to one tenant's database; there is no default tenant."""

    catalog: Catalog
    server_url: str | URL
    max_engines: int = 24
    pool_size: int = 1
    max_overflow: int = 2
    application_name_prefix: str = "omni"
    tenant_cache_seconds: float = 5.0
    max_idle_engines: int = 0  # evicted engines kept without connections, for reuse
    # A liveness round trip per checkout. A hot, small-statement caller (the outbound sender) may turn
    # it off and handle a stale connection itself; it doubles how long each checkout holds the pool.
    pool_pre_ping: bool = True
    _engines: OrderedDict[uuid.UUID, _Entry] = field(default_factory=OrderedDict, init=False)
    _disposing: int = field(default=0, init=False)
    _idle: OrderedDict[uuid.UUID, AsyncEngine] = field(default_factory=OrderedDict, init=False)
    _cond: asyncio.Condition = field(default_factory=asyncio.Condition, init=False)
    _tenants: dict[uuid.UUID, _Cached] = field(default_factory=dict, init=False)
    _lookups: dict[uuid.UUID, asyncio.Future[_Cached]] = field(default_factory=dict, init=False)
    _closed: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.max_engines < 1:
            raise ValueError("max_engines must be at least 1")

    @property
    def connection_budget(self) -> int:
        """Most connections this registry can hold open at once."""
        return self.max_engines * (self.pool_size + self.max_overflow)

    async def tenant(self, tenant_id: uuid.UUID | None) -> TenantRecord:
        """The active tenant ``tenant_id`` (briefly cached), or TenantNotFound/NotActive/NoTenantContext."""
        if tenant_id is None:
            raise NoTenantContext("no tenant given: tenant data needs a resolved tenant")
        cached = self._tenants.get(tenant_id)
        if cached is None or cached.expires < time.monotonic():
            # Single flight: under load hundreds of handlers miss at once; one catalog read serves
            # them all instead of exhausting the catalog's small pool.
            lookup = self._lookups.get(tenant_id)
            if lookup is None:
                lookup = self._lookups[tenant_id] = asyncio.ensure_future(self._load(tenant_id))
                lookup.add_done_callback(lambda _f: self._lookups.pop(tenant_id, None))
            cached = await asyncio.shield(lookup)
        if cached.tenant.status != "active":
            raise TenantNotActive(f"tenant {cached.tenant.slug} is {cached.tenant.status}")
        return cached.tenant

    async def _load(self, tenant_id: uuid.UUID) -> _Cached:
        record = await self.catalog.get_tenant(tenant_id)
        if record is None:
            self._tenants.pop(tenant_id, None)
            raise TenantNotFound(f"no tenant {tenant_id}")
        cached = _Cached(record, time.monotonic() + self.tenant_cache_seconds)
        self._tenants[tenant_id] = cached
        return cached

    def forget(self, tenant_id: uuid.UUID) -> None:
        """Drop the cached catalog row (e.g. after a status change made by this process)."""
        self._tenants.pop(tenant_id, None)

    def _new_engine(self, tenant: TenantRecord) -> AsyncEngine:
        url = tenant_url(self.server_url, tenant)
        kept = self._idle.pop(tenant.id, None)
        if kept is not None and kept.url == url:
            return kept  # disposed when evicted: it reconnects on first use
        return create_async_engine(
            url,
            pool_size=self.pool_size,
            max_overflow=self.max_overflow,
            pool_pre_ping=self.pool_pre_ping,
            pool_recycle=1800,
            connect_args={"application_name": application_name(self.application_name_prefix, tenant.id)},
        )

    async def _acquire(self, tenant: TenantRecord) -> AsyncEngine:
        async with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("the tenant engine registry is closed")
                entry = self._engines.get(tenant.id)
                if entry is not None:
                    entry.leases += 1
                    self._engines.move_to_end(tenant.id)
                    break
                if len(self._engines) + self._disposing < self.max_engines:
                    # Created while holding the condition's lock (engine creation does no I/O), so
                    # two tasks can never create the same tenant's engine twice.
                    entry = _Entry(self._new_engine(tenant), leases=1)
                    self._engines[tenant.id] = entry
                    log.debug("tenant_engine_created", tenant_id=str(tenant.id), engines=len(self._engines))
                    break
                idle = next((k for k, e in self._engines.items() if e.leases == 0), None)
                if idle is None:
                    await self._cond.wait()  # every engine is leased: wait for a release
                    continue
                # Evict the least recently used idle engine; its slot stays counted until disposed,
                # so its closing connections and the next engine's never exceed the budget together.
                victim = self._engines.pop(idle).engine
                self._disposing += 1
                self._cond.release()
                try:
                    await victim.dispose()
                finally:
                    await self._cond.acquire()
                    self._disposing -= 1
                    self._keep_idle(idle, victim, spare=tenant.id)
                    self._cond.notify_all()
        return entry.engine

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

    async def _release(self, tenant_id: uuid.UUID) -> None:
        async with self._cond:
            entry = self._engines.get(tenant_id)
            if entry is not None:
                entry.leases -= 1
            # Waiters wait for an evictable (unleased) engine or a free slot; only wake them when
            # there is one: waking hundreds of them on every release cost real CPU under load.
            if entry is None or entry.leases == 0:
                self._cond.notify_all()

    @asynccontextmanager
    async def session(self, tenant_id: uuid.UUID | None) -> AsyncIterator[AsyncSession]:
        """An AsyncSession on ``tenant_id``'s database (commit yourself, or use :meth:`begin`)."""
        tenant = await self.tenant(tenant_id)
        engine = await self._acquire(tenant)
        try:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                yield session
        finally:
            await self._release(tenant.id)

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
        tenant = await self.tenant(tenant_id)
        engine = await self._acquire(tenant)
        try:
            pooled = await engine.raw_connection()
            db: psycopg.AsyncConnection[Any] = pooled.driver_connection  # type: ignore[assignment]
            try:
                await db.set_autocommit(True)
                yield db
            finally:
                try:
                    await db.set_autocommit(False)  # as the pool hands it to SQLAlchemy callers
                except psycopg.Error:  # broken, or left mid-statement: not fit for the next caller
                    await greenlet_spawn(pooled.invalidate)
                await greenlet_spawn(pooled.close)  # back to the pool (its reset is a no-op when idle)
        finally:
            await self._release(tenant.id)

    @asynccontextmanager
    async def driver_transaction(
        self, tenant_id: uuid.UUID | None
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """:meth:`driver_connection` inside one transaction: committed on success, rolled back on error."""
        async with self.driver_connection(tenant_id) as db, db.transaction():
            yield db

    async def close(self) -> None:
        """Dispose every engine (waits for nobody: call after the work is done)."""
        async with self._cond:
            self._closed = True
            engines = [e.engine for e in self._engines.values()]
            self._engines.clear()
            self._idle.clear()
            self._cond.notify_all()
        for engine in engines:
            await engine.dispose()

    def stats(self) -> dict[str, int]:
        """Engines cached and leased now (for metrics and tests)."""
        return {
            "engines": len(self._engines),
            "leased": sum(1 for e in self._engines.values() if e.leases),
            "disposing": self._disposing,
            "idle": len(self._idle),
        }


def registry_for(
    settings: Settings,
    catalog: Catalog,
    *,
    name: str,
    pool_pre_ping: bool = True,
    tenant_cache_seconds: float = 5.0,
) -> TenantEngineRegistry:
    """The registry a service builds from its settings (``name`` shows in pg_stat_activity)."""
    return TenantEngineRegistry(
        pool_pre_ping=pool_pre_ping,
        tenant_cache_seconds=tenant_cache_seconds,
        catalog=catalog,
        server_url=settings.database_url,
        max_engines=settings.tenant_engine_cache,
        pool_size=settings.tenant_pool_size,
        max_overflow=settings.tenant_pool_overflow,
        application_name_prefix=f"omni-{name}",
        max_idle_engines=settings.tenant_engine_idle_cache,
    )
