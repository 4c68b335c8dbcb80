"""The engine registry under concurrency: one catalog read for many simultaneous misses."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from pipeline import provision
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from omni_common.db.catalog import Catalog, TenantRecord, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.errors import TenantNotFound
from omni_common.settings import Settings

pytestmark = pytest.mark.integration


class CountingCatalog(Catalog):
    """The real catalog, counting tenant reads."""

    reads = 0

    async def get_tenant(self, tenant_id: uuid.UUID) -> TenantRecord | None:
        self.reads += 1
        await asyncio.sleep(0)  # let the other callers pile up behind the first read
        return await super().get_tenant(tenant_id)


async def test_concurrent_misses_share_one_catalog_read(settings: Settings) -> None:
    tenant = await provision(settings, "singleflight")
    engine = catalog_engine(settings.database_url, pool_size=1, max_overflow=0)
    catalog = CountingCatalog(engine)
    registry = TenantEngineRegistry(
        catalog=catalog, server_url=settings.database_url, connections_per_server=4
    )
    try:
        records = await asyncio.gather(*(registry.tenant(tenant.id) for _ in range(200)))
        assert {r.id for r in records} == {tenant.id}
        assert catalog.reads == 1
        with pytest.raises(TenantNotFound):
            await asyncio.gather(*(registry.tenant(uuid.uuid4()) for _ in range(3)))
    finally:
        await registry.close()
        await engine.dispose()


async def test_an_evicted_engine_is_kept_without_connections_and_reused(settings: Settings) -> None:
    one, two = await provision(settings, "idleone"), await provision(settings, "idletwo")
    engine = catalog_engine(settings.database_url, pool_size=1, max_overflow=0)
    registry = TenantEngineRegistry(
        catalog=Catalog(engine),
        server_url=settings.database_url,
        connections_per_server=1,
        max_idle_engines=1,
    )

    async def engine_of(tenant_id: uuid.UUID) -> AsyncEngine:
        async with registry.begin(tenant_id) as session:
            assert (await session.execute(text("SELECT current_database()"))).scalar_one() == (
                one.db_name if tenant_id == one.id else two.db_name
            )
            bind = session.bind
            assert isinstance(bind, AsyncConnection)  # the leased connection
            return bind.engine

    try:
        first = await engine_of(one.id)
        await engine_of(two.id)  # evicts one's engine: disposed, kept idle
        assert registry.stats() == {"engines": 1, "leased": 0, "connections": 1, "closing": 0, "idle": 1}
        assert first.pool.checkedin() == 0  # no connection held
        assert await engine_of(one.id) is first  # reconnected, not rebuilt
        assert registry.stats()["idle"] == 1  # two's engine now waits in its place
    finally:
        await registry.close()
        await engine.dispose()


async def test_driver_connections_commit_roll_back_and_drop_a_broken_one(settings: Settings) -> None:
    tenant = await provision(settings, "driver")
    engine = catalog_engine(settings.database_url, pool_size=1, max_overflow=0)
    registry = TenantEngineRegistry(
        catalog=Catalog(engine),
        server_url=settings.database_url,
        connections_per_server=4,
        pool_pre_ping=False,  # as the normalizer: only dropping it keeps a dead connection out
    )
    table = f"t_{uuid.uuid4().hex[:8]}"

    async def fail_inside_a_transaction() -> None:
        async with registry.driver_transaction(tenant.id) as db:
            await db.execute(f"INSERT INTO {table} VALUES (2)")
            raise RuntimeError("the batch failed")

    async def end_the_connection() -> None:
        async with registry.driver_transaction(tenant.id) as db:
            await db.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    try:
        async with registry.driver_transaction(tenant.id) as db:
            assert (await (await db.execute("SELECT current_database()")).fetchone()) == (tenant.db_name,)
            await db.execute(f"CREATE TABLE {table} (n int)")
            await db.execute(f"INSERT INTO {table} VALUES (1)")
        with pytest.raises(RuntimeError):
            await fail_inside_a_transaction()
        async with registry.driver_connection(tenant.id) as db:  # autocommit: each statement commits
            await db.execute(f"INSERT INTO {table} VALUES (3)")
            with pytest.raises(psycopg.errors.UndefinedTable):
                await db.execute("SELECT * FROM no_such_table")
        # The server ends the pool's only connection mid-transaction: it is dropped, not reused.
        with pytest.raises(psycopg.OperationalError):
            await end_the_connection()
        async with registry.driver_transaction(tenant.id) as db:
            assert await (await db.execute(f"SELECT n FROM {table} ORDER BY n")).fetchall() == [(1,), (3,)]
        async with registry.session(tenant.id) as session:  # handed back as SQLAlchemy expects it:
            await session.execute(text(f"INSERT INTO {table} VALUES (4)"))  # not autocommit
            await session.rollback()
            assert (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 2
    finally:
        await registry.close()
        await engine.dispose()
