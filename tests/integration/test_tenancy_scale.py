"""200 tenants: provisioning from the template is fast; touching them all stays in the connection budget."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace

import psycopg
import pytest
from argon2 import PasswordHasher
from psycopg import sql
from sqlalchemy import text

from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings
from omni_common.tenancy.migrate import migrate_all
from omni_common.tenancy.provisioning import Provisioner

pytestmark = pytest.mark.integration

TENANTS = 200
CREATE_CONCURRENCY = 4
BUDGET = 8  # connections per server the registry may hold, shared by the 200 tenants
CATALOG_POOL = (2, 3)  # pool_size, max_overflow of the registry's catalog engine
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="module")
async def env(settings: Settings, namespace: str) -> AsyncIterator[SimpleNamespace]:
    url = settings.database_url.rsplit("/", 1)[0] + f"/{namespace}_s"
    await migrate_all(url)
    engine = catalog_engine(url, pool_size=CATALOG_POOL[0], max_overflow=CATALOG_POOL[1])
    yield SimpleNamespace(url=url, catalog=Catalog(engine), prefix=f"{namespace}_s")
    await engine.dispose()
    await _drop_databases(libpq_conninfo(url, database="postgres"), f"{namespace}_s")


async def _drop_databases(admin_url: str, prefix: str, concurrency: int = 16) -> None:
    """Drop this module's 200 databases concurrently: PostgreSQL merges the checkpoints each DROP
    requests, so this takes seconds where the session's sequential clean-up would take a minute."""
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix.replace("_", r"\_") + "%",)
        )
        names = [r[0] for r in await cur.fetchall()]
    queue: asyncio.Queue[str] = asyncio.Queue()
    for name in names:
        queue.put_nowait(name)

    async def worker() -> None:
        async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
            while not queue.empty():
                name = queue.get_nowait()
                await conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(names)))))


async def _sample_connections(admin_url: str, prefix: str, stop: asyncio.Event, samples: list[int]) -> None:
    """Count this module's server connections every few ms until ``stop`` (from a DB outside the prefix)."""
    pattern = prefix.replace("_", r"\_") + "%"
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        while not stop.is_set():
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE %s", (pattern,)
            )
            samples.append((await cur.fetchone())[0])
            await asyncio.sleep(0.005)


async def test_200_tenants_stay_within_the_connection_budget(
    env: SimpleNamespace, settings: Settings
) -> None:
    provisioner = Provisioner(env.catalog, env.url, hasher=FAST_HASHER, strategy="WAL_LOG")
    await provisioner.create_tenant(
        "scale-000", display_name="0", owner_email="o@0.example", owner_password="owner-pass-1"
    )
    semaphore = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def create(n: int) -> None:
        async with semaphore:
            await provisioner.create_tenant(
                f"scale-{n:03d}",
                display_name=str(n),
                owner_email=f"o@{n}.example",
                owner_password="owner-pass-1",
            )

    started = time.perf_counter()
    await asyncio.gather(*(create(n) for n in range(1, TENANTS)))
    elapsed = time.perf_counter() - started
    print(
        f"\ncreated {TENANTS - 1} tenants in {elapsed:.1f}s ({elapsed / (TENANTS - 1) * 1000:.0f} ms each, "
        f"concurrency {CREATE_CONCURRENCY})"
    )
    tenants = await env.catalog.list_tenants()
    assert len(tenants) == TENANTS
    assert {t.status for t in tenants} == {"active"}

    registry = TenantEngineRegistry(
        env.catalog,
        server_url=env.url,
        connections_per_server=BUDGET,
        acquire_timeout_s=120,  # 400 leases at once on 8 connections: a queue, on a busy machine
    )
    budget = registry.connection_budget + sum(CATALOG_POOL)
    stop, samples = asyncio.Event(), []
    sampler = asyncio.create_task(
        _sample_connections(libpq_conninfo(env.url, database="postgres"), env.prefix, stop, samples)
    )
    peak_connections = 0

    async def touch(tenant_id, expected: str) -> None:
        nonlocal peak_connections
        async with registry.session(tenant_id) as session:
            assert await session.scalar(text("SELECT current_database()")) == expected
            name = await session.scalar(text("SELECT current_setting('application_name')"))
            assert name == f"omni:{tenant_id.hex[:12]}"
            peak_connections = max(peak_connections, registry.stats()["connections"])

    try:
        # Each tenant twice, all at once: engines are created, shared, evicted and awaited.
        await asyncio.gather(*(touch(t.id, t.db_name) for t in tenants * 2))
    finally:
        await registry.close()
        await asyncio.sleep(0.05)
        stop.set()
        await sampler
    print(f"connections: peak {max(samples)} over {len(samples)} samples, budget {budget}")
    assert len(samples) > 5
    assert max(samples) <= budget
    assert peak_connections <= BUDGET
