"""Connections per database server stay within the budget, and a full server makes callers wait, then
refuses them with DatabaseUnavailable (never a raw "too many clients"). A private PostgreSQL cluster
with a small ``max_connections``, so filling it disturbs nobody else on the machine."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace

import psycopg
import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.dburl import libpq_conninfo
from omni_common.errors import ConnectionBudgetExhausted, DatabaseUnavailable
from omni_common.tenancy.migrate import migrate_all
from omni_common.tenancy.provisioning import Provisioner
from omni_common.testing.pgcluster import private_cluster

pytestmark = pytest.mark.integration

MAX_CONNECTIONS = 20
TENANTS = 12
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="module")
def small_server() -> Iterator[str]:
    with private_cluster(MAX_CONNECTIONS) as admin_url:
        yield admin_url


@pytest.fixture(scope="module")
async def env(small_server: str) -> AsyncIterator[SimpleNamespace]:
    url = small_server.rsplit("/", 1)[0] + "/omnibudget"
    await migrate_all(url)
    engine = catalog_engine(url, pool_size=1, max_overflow=0)
    catalog = Catalog(engine)
    provisioner = Provisioner(catalog, url, hasher=FAST_HASHER, strategy="WAL_LOG")
    tenants = [
        await provisioner.create_tenant(
            f"budget-{n:02d}",
            display_name=str(n),
            owner_email=f"o@{n}.example",
            owner_password="owner-pass-1",
        )
        for n in range(TENANTS)
    ]
    yield SimpleNamespace(url=url, catalog=catalog, tenants=tenants, admin=libpq_conninfo(small_server))
    await engine.dispose()


def _registry(env: SimpleNamespace, budget: int, timeout: float) -> TenantEngineRegistry:
    return TenantEngineRegistry(
        env.catalog,
        server_url=env.url,
        connections_per_server=budget,
        acquire_timeout_s=timeout,
        application_name_prefix="budgettest",
    )


async def _tenant_connections(admin: str) -> int:
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'budgettest:%'"
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


async def test_many_tenants_at_once_share_the_budget(env: SimpleNamespace) -> None:
    registry = _registry(env, budget=4, timeout=30)
    peak = 0
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, await _tenant_connections(env.admin))
            await asyncio.sleep(0.005)

    async def touch(tenant_id: uuid.UUID, expected: str) -> None:
        async with registry.session(tenant_id) as session:
            assert await session.scalar(text("SELECT current_database()")) == expected
            await asyncio.sleep(0.01)  # hold it a little: leases overlap

    sampler = asyncio.create_task(sample())
    try:
        await asyncio.gather(*(touch(t.id, t.db_name) for t in env.tenants * 4))
        assert registry.stats()["connections"] <= 4
    finally:
        stop.set()
        await sampler
        await registry.close()
    assert 0 < peak <= 4


async def test_a_spent_budget_makes_callers_wait_then_refuses_them(env: SimpleNamespace) -> None:
    registry = _registry(env, budget=1, timeout=0.3)
    one, two = env.tenants[0], env.tenants[1]
    try:
        async with registry.session(one.id) as held:
            await held.execute(text("SELECT 1"))
            started = time.monotonic()
            with pytest.raises(ConnectionBudgetExhausted):
                async with registry.session(two.id):
                    pass
            assert time.monotonic() - started >= 0.3
            waiting = asyncio.create_task(_current_db(registry, two.id))
            await asyncio.sleep(0.05)
            assert not waiting.done()
        # The holder is done: the waiter gets the connection (one's is closed to make room).
        assert await waiting == two.db_name
    finally:
        await registry.close()


async def _current_db(registry: TenantEngineRegistry, tenant_id: uuid.UUID) -> str:
    async with registry.session(tenant_id) as session:
        return str(await session.scalar(text("SELECT current_database()")))


async def test_a_full_server_is_waited_for_then_refused_as_unavailable(env: SimpleNamespace) -> None:
    """Another client takes every connection the server has: we wait, then say it plainly."""
    hogs: list[psycopg.AsyncConnection[object]] = []
    try:
        while True:
            try:
                hogs.append(await psycopg.AsyncConnection.connect(env.admin, autocommit=True))
            except psycopg.OperationalError as exc:
                full = str(exc)
                break
        assert "too many clients" in full or "reserved" in full
        registry = _registry(env, budget=4, timeout=0.5)
        try:
            with pytest.raises(DatabaseUnavailable) as refused:
                await _current_db(registry, env.tenants[2].id)
            assert not isinstance(refused.value, ConnectionBudgetExhausted)
            assert registry.stats()["leased"] == 0  # the refused lease gave its place back
        finally:
            await registry.close()
        # Within the wait, a server that frees connections is used as soon as it has one.
        patient = _registry(env, budget=4, timeout=10)
        try:
            waiting = asyncio.create_task(_current_db(patient, env.tenants[3].id))
            await asyncio.sleep(0.3)
            assert not waiting.done()
            await hogs.pop().close()
            assert await waiting == env.tenants[3].db_name
        finally:
            await patient.close()
    finally:
        for hog in hogs:
            await hog.close()


async def test_waiters_are_served_in_the_order_they_came(env: SimpleNamespace) -> None:
    """Newcomers queue behind earlier waiters: nobody waits past their turn while others barge in."""
    registry = _registry(env, budget=1, timeout=30)
    served: list[int] = []

    async def lease(n: int) -> None:
        async with registry.session(env.tenants[n].id) as session:
            await session.execute(text("SELECT 1"))
            served.append(n)
            await asyncio.sleep(0.02)

    try:
        holder = asyncio.create_task(lease(0))
        await asyncio.sleep(0.05)
        waiters = []
        for n in range(1, 6):
            waiters.append(asyncio.create_task(lease(n)))
            await asyncio.sleep(0.01)  # each arrives after the one before
        await asyncio.gather(holder, *waiters)
    finally:
        await registry.close()
    assert served == [0, 1, 2, 3, 4, 5]


async def test_callers_cancelled_anywhere_leave_no_lease_behind(env: SimpleNamespace) -> None:
    """A handler cancelled while waiting, connecting, querying or returning its connection (a closed
    channel cancels its tasks) gives its place back: the budget never leaks away."""
    registry = _registry(env, budget=3, timeout=30)

    async def use(n: int) -> None:
        async with registry.session(env.tenants[n % TENANTS].id) as session:
            await session.execute(text("SELECT pg_sleep(0.01)"))

    try:
        for round_ in range(5):
            tasks = [asyncio.create_task(use(n)) for n in range(40)]
            await asyncio.sleep(0.005 * (round_ + 1))  # cancelled at a different point each round
            for task in tasks[::2]:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            assert registry.stats()["leased"] == 0
        # Everything still works, within the budget.
        await asyncio.gather(*(use(n) for n in range(20)))
        assert registry.stats()["connections"] <= 3
    finally:
        await registry.close()


async def test_a_database_closed_to_connections_is_refused_soon_not_after_the_whole_wait(
    env: SimpleNamespace,
) -> None:
    """A worker waits up to 30 s for a slot of its own budget, but not for a server saying no: its
    delay queues are the backoff, and a slot held for a dead database is one a healthy tenant lacks."""
    victim = env.tenants[4]
    async with await psycopg.AsyncConnection.connect(env.admin, autocommit=True) as admin:
        await admin.execute(f'ALTER DATABASE "{victim.db_name}" ALLOW_CONNECTIONS false')
        registry = _registry(env, budget=4, timeout=30)
        registry.connect_retry_s = 0.3
        try:
            waited = asyncio.create_task(_current_db(registry, victim.id))
            done, _ = await asyncio.wait({waited}, timeout=15)
            assert done, "still retrying a closed database long after connect_retry_s"
            with pytest.raises(DatabaseUnavailable):
                waited.result()
            assert registry.stats()["leased"] == 0
            assert await _current_db(registry, env.tenants[5].id) == env.tenants[5].db_name
        finally:
            await admin.execute(f'ALTER DATABASE "{victim.db_name}" ALLOW_CONNECTIONS true')
            await registry.close()


async def test_a_busy_tenant_keeps_to_its_cap_and_leaves_the_rest_to_others(env: SimpleNamespace) -> None:
    """With a cap of 2 per tenant, ten concurrent callers of one tenant share two connections, and a
    quiet tenant waiting meanwhile gets one at once (not behind the busy tenant's callers)."""
    registry = TenantEngineRegistry(
        env.catalog,
        server_url=env.url,
        connections_per_server=4,
        connections_per_tenant=2,
        acquire_timeout_s=30,
        application_name_prefix="budgettest",
    )
    busy, quiet = env.tenants[0], env.tenants[1]
    release = asyncio.Event()
    inside = 0
    most_inside = 0

    async def hold_busy() -> None:
        nonlocal inside, most_inside
        async with registry.session(busy.id) as session:
            await session.scalar(text("SELECT 1"))
            inside += 1
            most_inside = max(most_inside, inside)
            await release.wait()
            inside -= 1

    callers = [asyncio.create_task(hold_busy()) for _ in range(10)]
    try:
        while inside < 2:
            await asyncio.sleep(0.01)
        async with asyncio.timeout(5):  # the quiet tenant does not queue behind the busy one
            async with registry.session(quiet.id) as session:
                assert await session.scalar(text("SELECT current_database()")) == quiet.db_name
        assert registry.stats()["connections"] <= 3
        release.set()
        await asyncio.gather(*callers)
        assert most_inside == 2
    finally:
        release.set()
        await registry.close()


async def test_a_second_connection_comes_from_free_room_never_from_another_tenant(
    env: SimpleNamespace,
) -> None:
    """With a cap per tenant and the budget full, a tenant whose one connection is in use waits for
    it instead of closing an idle tenant's connection for a second one (that churn reconnected a
    tenant every few events); a tenant with no connection still takes an idle tenant's place."""
    registry = TenantEngineRegistry(
        env.catalog,
        server_url=env.url,
        connections_per_server=2,
        connections_per_tenant=2,
        acquire_timeout_s=30,
        application_name_prefix="budgettest",
    )
    busy, idle, newcomer = env.tenants[2], env.tenants[3], env.tenants[4]
    try:
        for tenant in (idle, busy):  # each holds one connection, idle in its pool
            async with registry.session(tenant.id) as session:
                await session.scalar(text("SELECT 1"))
        assert registry.stats()["connections"] == 2
        release = asyncio.Event()
        order: list[str] = []

        async def hold(name: str) -> None:
            async with registry.session(busy.id) as session:
                await session.scalar(text("SELECT 1"))
                order.append(name)
                await release.wait()

        first = asyncio.create_task(hold("first"))
        while not order:
            await asyncio.sleep(0.01)
        second = asyncio.create_task(hold("second"))
        await asyncio.sleep(0.3)
        assert order == ["first"]  # waiting for busy's own connection, not for idle's
        assert idle.id in registry._engines  # still open: nobody closed it
        assert registry._engines[idle.id].slot.conns == 1
        release.set()
        await asyncio.gather(first, second)
        assert order == ["first", "second"]
        async with registry.session(newcomer.id) as session:  # its first: an idle tenant makes room
            assert await session.scalar(text("SELECT current_database()")) == newcomer.db_name
        assert registry.stats()["connections"] <= 2
    finally:
        await registry.close()
