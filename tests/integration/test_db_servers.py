"""Tenant databases on two PostgreSQL servers: placement, `omni db-server`, the registry, the pipeline,
and `omni migrate` going on past a server that is down. The second server is a private cluster of
this module (removed afterwards); the catalog is one of this module's own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import psycopg
import pytest
from inbox_support import running_inbox
from pg_second_server import databases, omni, own_catalog, second_server, server_port, whatsapp_text
from pipeline import body_of, connect, running_pipeline, sign, wait_until
from sqlalchemy import text
from testenv import APP_SECRET, drop_databases

from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.settings import Settings

pytestmark = pytest.mark.integration

PASSWORD = "owner-pass-1"


@pytest.fixture(scope="module")
def env(settings: Settings, namespace: str) -> Iterator[SimpleNamespace]:
    mine = own_catalog(settings, f"{namespace}_srv")
    with second_server() as second:
        code, out = omni(mine, "migrate")
        assert code == 0, out
        yield SimpleNamespace(settings=mine, second=second, prefix=f"{namespace}_srv"[:24])
    drop_databases(settings.database_url.rsplit("/", 1)[0] + "/postgres", f"{namespace}_srv")


def _create(env: SimpleNamespace, slug: str, *server: str) -> tuple[int, str]:
    return omni(
        env.settings,
        *("tenant", "create", slug, "--name", slug.title(), "--owner-email", f"o@{slug}.example"),
        *("--owner-password", PASSWORD, *(("--server", server[0]) if server else ())),
    )


def _tenants(env: SimpleNamespace) -> dict[str, str]:
    async def go() -> dict[str, str]:
        engine = catalog_engine(env.settings.database_url)
        try:
            return {t.slug: t.server for t in await Catalog(engine).list_tenants()}
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_servers_placement_and_cli(env: SimpleNamespace) -> None:
    code, out = omni(env.settings, "db-server", "list")
    assert code == 0, out
    assert "main" in out
    assert "(the catalog server)" in out

    url_with_secret = env.second.replace("postgres@", "postgres:not-stored@") + "/postgres"
    code, out = omni(env.settings, "db-server", "add", "second", url_with_secret, "--max-connections", "60")
    assert code == 0, out
    assert "OMNI_DB_SERVER_SECOND_PASSWORD" in out  # told where the password goes, never stored
    with psycopg.connect(env.settings.database_url) as conn:
        row = conn.execute("SELECT url, password_env FROM db_servers WHERE name = 'second'").fetchone()
    assert row == (env.second, "OMNI_DB_SERVER_SECOND_PASSWORD")
    code, out = omni(env.settings, "db-server", "add", "second", env.second)
    assert code != 0
    assert "exists already" in out
    code, out = omni(env.settings, "db-server", "add", "nowhere", "postgresql://postgres@127.0.0.1:1")
    assert code != 0
    assert "did not answer" in out

    # Both empty: the first by name; then the one with fewer tenants; --server wins.
    for slug, server in (("srv-a", ()), ("srv-b", ()), ("srv-c", ("main",))):
        code, out = _create(env, slug, *server)
        assert code == 0, out
    assert _tenants(env) == {"srv-a": "main", "srv-b": "second", "srv-c": "main"}
    assert len(databases(env.second, env.prefix)) == 2  # srv-b's database and the second's template

    code, out = omni(env.settings, "db-server", "drain", "second")
    assert code == 0, out
    code, out = _create(env, "srv-d")
    assert code == 0, out
    assert _tenants(env)["srv-d"] == "main"  # second has fewer tenants, but is draining
    code, out = _create(env, "srv-e", "second")
    assert code != 0
    assert "takes no new tenants" in out
    code, out = omni(env.settings, "db-server", "activate", "second")
    assert code == 0, out

    code, out = omni(env.settings, "db-server", "list")
    assert code == 0, out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}
    assert lines["main"][2] == "3"
    assert lines["second"][2] == "1"
    assert lines["second"][1] == "active"
    assert "/60" in lines["second"][5]


def test_registry_opens_each_tenant_on_its_server(env: SimpleNamespace) -> None:
    async def go() -> dict[str, int]:
        engine = catalog_engine(env.settings.database_url)
        catalog = Catalog(engine)
        registry = TenantEngineRegistry(
            catalog, server_url=env.settings.database_url, connections_per_server=2
        )
        ports = {}
        try:
            for slug in ("srv-a", "srv-b"):
                tenant = await catalog.get_tenant_by_slug(slug)
                assert tenant is not None
                async with registry.session(tenant.id) as session:
                    ports[slug] = await session.scalar(text("SELECT inet_server_port()"))
                    assert await session.scalar(text("SELECT current_database()")) == tenant.db_name
        finally:
            await registry.close()
            await engine.dispose()
        return ports

    ports = asyncio.run(go())
    assert ports == {"srv-a": 5432, "srv-b": server_port(env.second)}


def test_pipeline_writes_each_tenant_on_its_server(env: SimpleNamespace) -> None:
    accounts = {"srv-a": "9" + str(uuid.uuid4().int)[:14], "srv-b": "8" + str(uuid.uuid4().int)[:14]}

    async def setup() -> dict[str, tuple[uuid.UUID, str]]:
        engine = catalog_engine(env.settings.database_url)
        try:
            out = {}
            for slug, account in accounts.items():
                tenant = await Catalog(engine).get_tenant_by_slug(slug)
                assert tenant is not None
                await connect(env.settings, tenant.id, "whatsapp", account)
                out[slug] = (tenant.id, tenant.db_name)
            return out
        finally:
            await engine.dispose()

    tenants = asyncio.run(setup())
    sent: dict[str, set[str]] = {slug: set() for slug in accounts}
    with running_pipeline(env.settings) as pipe, httpx.Client(base_url=pipe.ingress_url, timeout=10) as http:
        for n in range(30):
            slug = ("srv-a", "srv-b")[n % 2]
            wamid = f"wamid.srv{n}.{uuid.uuid4().hex[:8]}"
            body = body_of(whatsapp_text(accounts[slug], wamid, f"message {n}"))
            headers = {"X-Hub-Signature-256": sign(body, APP_SECRET), "Content-Type": "application/json"}
            assert http.post("/webhooks/whatsapp", content=body, headers=headers).status_code == 200
            sent[slug].add(wamid)

        def stored(slug: str) -> list[str]:
            port = 5432 if slug == "srv-a" else server_port(env.second)
            conninfo = f"postgresql://postgres@127.0.0.1:{port}/{tenants[slug][1]}"
            with psycopg.connect(conninfo) as conn:
                return [r[0] for r in conn.execute("SELECT external_message_id FROM chat_messages")]

        for slug in accounts:
            wait_until(lambda s=slug: len(stored(s)) >= 15, timeout=30, what=f"{slug}'s messages")
    for slug in accounts:
        got = stored(slug)
        assert len(got) == len(set(got)), "duplicated"
        assert set(got) == sent[slug], "lost or misrouted"

    # The inbox reads each tenant on its own server: the one conversation with its 15 messages.
    with running_inbox(env.settings) as url, httpx.Client(base_url=url, timeout=15) as inbox:
        for slug in accounts:
            login = {"tenant": slug, "email": f"o@{slug}.example", "password": PASSWORD}
            response = inbox.post("/api/auth/login", json=login)
            assert response.status_code == 200, response.text
            auth = {"Authorization": f"Bearer {response.json()['access_token']}"}
            inbox.cookies.clear()
            items = inbox.get("/api/conversations", headers=auth).json()["items"]
            assert len(items) == 1
            chat = items[0]["id"]
            page = inbox.get(f"/api/conversations/{chat}/messages", params={"limit": 100}, headers=auth)
            assert page.status_code == 200, page.text
            bodies = {m.get("external_message_id") for m in page.json()}
            assert bodies == sent[slug]


def test_migrate_goes_on_past_a_server_that_is_down(env: SimpleNamespace) -> None:
    with psycopg.connect(env.settings.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO db_servers (name, url) VALUES ('gone', 'postgresql://postgres@127.0.0.1:1')"
        )
        conn.execute(
            "INSERT INTO tenants (id, slug, display_name, db_name, server, status)"
            " VALUES (%s, 'srv-gone', 'Gone', %s, 'gone', 'active')",
            (uuid.uuid4(), f"{env.prefix}_gone"),
        )
    try:
        code, out = omni(env.settings, "migrate")
        assert code != 0
        assert "server gone DOWN" in out
        assert "4 tenant(s) at head, 1 failed" in out  # the tenants of main and second
        with psycopg.connect(env.settings.database_url) as conn:
            errors = dict(conn.execute("SELECT slug, last_migration_error FROM tenants").fetchall())
        assert "database server gone unreachable" in (errors["srv-gone"] or "")
        assert errors["srv-a"] is None
        assert errors["srv-b"] is None
    finally:
        with psycopg.connect(env.settings.database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM tenants WHERE server = 'gone'")
            conn.execute("DELETE FROM db_servers WHERE name = 'gone'")
