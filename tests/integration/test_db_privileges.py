"""Least privilege in the databases (``db/privileges.py``): after ``omni migrate`` each service's role
holds exactly its row of the matrix, is refused the rest, and the pipeline runs with every service on
its own role. Roles are cluster-wide: the catalog and its tenants live on a private cluster of this
module, so nothing here touches the shared server's roles."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from inbox_support import running_inbox
from pg_second_server import omni, second_server, whatsapp_text
from pipeline import WorkerThread, body_of, connect, sign, unique_digits, wait_until
from sandbox_server import serve
from sqlalchemy import text
from sqlalchemy.engine import make_url
from testenv import APP_SECRET

from ingress_webhooks.main import build_apps
from normalizer.main import handler_factory as normalizer_handlers
from omni_common.broker.topology import build_topology
from omni_common.db.catalog import Catalog, TenantRecord, catalog_engine
from omni_common.db.grants import ensure_roles, scram_verifier
from omni_common.db.privileges import ALL, SERVICES, ServiceAccess, SuperuserRefused, refuse_superuser
from omni_common.db.registry import TenantEngineRegistry, tenant_url
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings
from omni_common.tenancy.provisioning import create_tenant
from tenant_router.main import handler_factory as router_handlers

pytestmark = pytest.mark.integration

PASSWORD = "owner-pass-123"
WAIT_FOR_SCHEMA = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "base" / "wait-for-schema.py"
CATALOG_TABLES = ("tenants", "channel_accounts", "db_servers", "tenant_moves", "alembic_version")


@dataclass
class Env:
    admin: Settings  # the owner: postgres on the private cluster
    first: TenantRecord  # created before the second `omni migrate`
    second: TenantRecord  # created after it: provisioning grants on its own
    waba: str

    def as_service(self, service: str) -> Settings:
        role = next(a.role for a in SERVICES if a.service == service)
        url = make_url(self.admin.database_url).set(username=role)
        return self.admin.model_copy(update={"database_url": url.render_as_string(hide_password=False)})

    def conninfo(self, role: str, database: str) -> str:
        url = make_url(self.admin.database_url).set(username=role, database=database)
        return libpq_conninfo(url)


@pytest.fixture(scope="module")
def env(settings: Settings) -> Iterator[Env]:
    with second_server() as cluster:
        admin = settings.model_copy(update={"database_url": f"{cluster}/omnipriv"})
        code, out = omni(admin, "migrate")
        assert code == 0, out

        async def tenant(slug: str) -> TenantRecord:
            return await create_tenant(
                admin.database_url,
                slug,
                display_name=slug,
                owner_email=f"o@{slug}.test",
                owner_password=PASSWORD,
            )

        first = asyncio.run(tenant("priv-first"))
        # A privilege given by hand (or taken out of the matrix since) is gone after the next migrate.
        with psycopg.connect(f"{cluster}/{first.db_name}", autocommit=True) as conn:
            conn.execute("GRANT CONNECT ON DATABASE " + first.db_name + " TO omni_tenant_router, PUBLIC")
            conn.execute("GRANT SELECT ON users TO omni_tenant_router, omni_normalizer")
        code, out = omni(admin, "migrate")  # grants an existing tenant again (and is idempotent)
        assert code == 0, out
        second = asyncio.run(tenant("priv-second"))
        yield Env(admin, first, second, unique_digits())


def _has(conn: psycopg.Connection, role: str, table: str, privilege: str) -> bool:
    row = conn.execute("SELECT has_table_privilege(%s, %s, %s)", (role, table, privilege)).fetchone()
    return bool(row and row[0])


def _expected(access: ServiceAccess, table: str, scope: str) -> set[str]:
    grants = access.catalog if scope == "catalog" else access.tenant
    return {p for g in grants if g.table == table and not g.columns for p in g.privileges}


@pytest.mark.parametrize("scope", ["catalog", "first", "second"])
def test_each_role_holds_exactly_its_row_of_the_matrix(env: Env, scope: str) -> None:
    database = {"catalog": "omnipriv", "first": env.first.db_name, "second": env.second.db_name}[scope]
    kind = "catalog" if scope == "catalog" else "tenant"
    with psycopg.connect(env.conninfo("postgres", database), autocommit=True) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
        tables = [r[0] for r in rows]
        assert set(CATALOG_TABLES if kind == "catalog" else ()) <= set(tables)
        for access in SERVICES:
            held = {(t, p) for t in tables for p in ALL if _has(conn, access.role, t, p)}
            wanted = {(t, p) for t in tables for p in _expected(access, t, kind)}
            assert held == wanted, access.service
            row = conn.execute(
                "SELECT has_database_privilege(%s, %s, 'CONNECT'), has_database_privilege(%s, %s, 'CREATE'),"
                " has_database_privilege(%s, %s, 'TEMP'), has_schema_privilege(%s, 'public', 'CREATE')",
                (access.role, database) * 3 + (access.role,),
            ).fetchone()
            assert row is not None
            grants = access.catalog if kind == "catalog" else access.tenant
            assert row == (bool(grants), False, False, False), access.service


def test_the_router_reads_the_routing_columns_and_nothing_else(env: Env) -> None:
    router = "omni_tenant_router"
    with psycopg.connect(env.conninfo(router, "omnipriv"), autocommit=True) as conn:
        conn.execute("SELECT channel, external_account_id, tenant_id, is_enabled FROM channel_accounts")
        conn.execute("SELECT id, status FROM tenants")
        for query in (
            "SELECT db_name FROM tenants",
            "SELECT * FROM tenants",
            "SELECT url FROM db_servers",
            "SELECT * FROM tenant_moves",
            "UPDATE tenants SET status = 'active' WHERE false",
            "INSERT INTO channel_accounts (channel, external_account_id, tenant_id) VALUES ('x', 'y', NULL)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(query)
    # No tenant database opens to it: not even a connection.
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(env.conninfo(router, env.first.db_name)).close()
    assert "permission denied" in str(refused.value)


def test_the_normalizer_cannot_read_people_or_sessions(env: Env) -> None:
    with psycopg.connect(env.conninfo("omni_normalizer", env.first.db_name), autocommit=True) as conn:
        conn.execute("SELECT id FROM chat_messages LIMIT 1")
        for query in (
            "SELECT password_hash FROM users",
            "SELECT * FROM user_sessions",
            "SELECT * FROM push_keys",
            "SELECT * FROM audit_log",
            "DELETE FROM chat_messages WHERE false",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(query)


@pytest.mark.parametrize("access", SERVICES, ids=lambda a: a.service)
def test_no_role_creates_or_drops_anything(env: Env, access: ServiceAccess) -> None:
    databases = ["omnipriv"] + ([env.first.db_name, env.second.db_name] if access.tenant else [])
    for database in databases:
        with psycopg.connect(env.conninfo(access.role, database), autocommit=True) as conn:
            victim = "tenants" if database == "omnipriv" else "chat_messages"
            for query in (
                "CREATE TABLE stolen (x int)",
                "CREATE TEMP TABLE stolen (x int)",
                "CREATE SCHEMA stolen",
                f"DROP TABLE {victim}",
                f"TRUNCATE {victim}",
                f"ALTER TABLE {victim} ADD COLUMN x int",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(query)


def test_a_service_on_its_role_starts_and_a_superuser_is_refused(env: Env) -> None:
    refuse_superuser("normalizer", env.as_service("normalizer").database_url, "production")
    with pytest.raises(SuperuserRefused, match="superuser"):
        refuse_superuser("normalizer", env.admin.database_url, "production")
    refuse_superuser("normalizer", env.admin.database_url, "development")


@contextmanager
def _pipeline_on_roles(env: Env) -> Iterator[str]:
    """Ingress (no database), the router and the normalizer, each on its own role; the ingress URL."""
    admin = env.admin
    topology = build_topology(retry_delays_ms=admin.retry_delays_ms, delivery_limit=admin.delivery_limit)
    workers = [
        WorkerThread(
            service,
            service=service,
            rabbitmq_url=admin.rabbitmq_url,
            topology=topology,
            prefetch=50,
            build_handlers=factory(env.as_service(service)),
        )
        for service, factory in (("tenant-router", router_handlers), ("normalizer", normalizer_handlers))
    ]
    with serve(build_apps(admin).webhooks) as ingress_url:
        for worker in workers:
            worker.start()
        try:
            yield ingress_url
        finally:
            for worker in workers:
                worker.stop()


def test_the_pipeline_and_the_inbox_run_on_their_own_roles(env: Env) -> None:
    tenant = env.second
    # Connecting an account is the inbox's work: it maps it in the catalog as its role.
    asyncio.run(connect(env.as_service("inbox-api"), tenant.id, "whatsapp", env.waba))
    wamid = f"wamid.priv.{uuid.uuid4().hex[:8]}"
    with _pipeline_on_roles(env) as ingress, httpx.Client(base_url=ingress, timeout=10) as http:
        body = body_of(whatsapp_text(env.waba, wamid, "table for two at eight?"))
        headers = {"X-Hub-Signature-256": sign(body, APP_SECRET), "Content-Type": "application/json"}
        assert http.post("/webhooks/whatsapp", content=body, headers=headers).status_code == 200

        def stored() -> bool:
            with psycopg.connect(env.conninfo("postgres", tenant.db_name)) as conn:
                query = "SELECT 1 FROM chat_messages WHERE external_message_id = %s"
                return conn.execute(query, (wamid,)).fetchone() is not None

        wait_until(stored, timeout=30, what="the message written by the normalizer on its role")
    inbox_settings = env.as_service("inbox-api")
    with running_inbox(inbox_settings) as url, httpx.Client(base_url=url, timeout=20) as client:
        login = client.post(
            "/api/auth/login",
            json={"tenant": tenant.slug, "email": f"o@{tenant.slug}.test", "password": PASSWORD},
        )
        assert login.status_code == 200, login.text
        client.cookies.clear()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        listing = client.get("/api/conversations", headers=headers)
        assert listing.status_code == 200, listing.text
        assert "table for two at eight?" in listing.text


def test_a_service_reaches_another_server_as_its_own_role(env: Env) -> None:
    """A server registered with the admin's login (another name for the same cluster): a service on
    its role reaches a tenant there as that role, never with the server record's user."""
    port = make_url(env.admin.database_url).port
    code, out = omni(
        env.admin, "db-server", "add", "alias", f"postgresql://postgres@localhost:{port}", "--no-password"
    )
    assert code == 0, out
    code, out = omni(
        env.admin,
        *("tenant", "create", "priv-alias", "--name", "Alias", "--owner-email", "o@alias.test"),
        *("--owner-password", PASSWORD, "--server", "alias"),
    )
    assert code == 0, out

    async def as_normalizer() -> tuple[str, str | None]:
        service = env.as_service("normalizer")
        engine = catalog_engine(service.database_url)
        catalog = Catalog(engine)
        registry = TenantEngineRegistry(catalog=catalog, server_url=service.database_url)
        try:
            record = await catalog.get_tenant_by_slug("priv-alias")
            assert record is not None
            assert record.server == "alias"
            async with registry.session(record.id) as session:
                row = (await session.execute(text("SELECT current_user"))).one()
                await session.execute(text("SELECT count(*) FROM chat_messages"))
            return str(row[0]), tenant_url(service.database_url, record).host
        finally:
            await registry.close()
            await engine.dispose()

    user, host = asyncio.run(as_normalizer())
    assert (user, host) == ("omni_normalizer", "localhost")


@pytest.mark.parametrize("service", ["tenant-router", "normalizer"])
def test_the_init_container_checks_the_schema_on_the_service_role(env: Env, service: str) -> None:
    """deploy/k8s: each pod's wait-for-schema runs with the pod's own database login."""
    done = subprocess.run(
        [sys.executable, str(WAIT_FOR_SCHEMA), "--interval", "0.2", "--timeout", "5"],
        env={**os.environ, "OMNI_DATABASE_URL": env.as_service(service).database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_password_is_set_as_the_verifier_postgresql_itself_computes(env: Env) -> None:
    """OMNI_DB_PASSWORD_<SERVICE> reaches the server as a SCRAM verifier: the same one PostgreSQL
    computes from the clear text (which then never travels, nor lands in a statement log)."""

    def stored(conn: psycopg.Connection) -> tuple[str, bytes, int]:
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'omni_ai_suggester'").fetchone()
        assert row is not None
        iterations, rest = str(row[0]).split("$", 1)[1].split(":", 1)
        return str(row[0]), base64.b64decode(rest.split("$", 1)[0]), int(iterations)

    asyncio.run(ensure_roles(env.admin.database_url, environ={"OMNI_DB_PASSWORD_AI_SUGGESTER": "pw-ai-1"}))
    with psycopg.connect(env.conninfo("postgres", "omnipriv"), autocommit=True) as conn:
        verifier, salt, iterations = stored(conn)
        assert verifier == scram_verifier("pw-ai-1", salt=salt, iterations=iterations)
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute("ALTER ROLE omni_ai_suggester PASSWORD 'pw-ai-2'")
        verifier, salt, iterations = stored(conn)
        assert verifier == scram_verifier("pw-ai-2", salt=salt, iterations=iterations)


def test_a_new_server_gets_the_roles_and_a_moved_tenant_its_grants(env: Env) -> None:
    with second_server() as other:
        code, out = omni(env.admin, "db-server", "add", "other", other, "--no-password")
        assert code == 0, out
        with psycopg.connect(f"{other}/postgres") as conn:
            rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'omni\\_%'").fetchall()
        assert {r[0] for r in rows} == {a.role for a in SERVICES}  # before any tenant goes there
        # The copy is restored without grants (pg_restore --no-acl): the move grants it afresh.
        code, out = omni(
            env.admin, "tenant", "move", env.first.slug, "--to", "other", "--settle-seconds", "0"
        )
        assert code == 0, out
        with psycopg.connect(f"{other}/{env.first.db_name}", autocommit=True) as conn:
            assert _has(conn, "omni_normalizer", "chat_messages", "INSERT")
            assert not _has(conn, "omni_normalizer", "users", "SELECT")
            row = conn.execute(
                "SELECT has_database_privilege('omni_tenant_router', %s, 'CONNECT'),"
                " has_database_privilege('omni_inbox_api', %s, 'CONNECT')",
                (env.first.db_name, env.first.db_name),
            ).fetchone()
            assert row == (False, True)
        # Moved back: the later tests (and the module's cluster) find it where it was.
        code, out = omni(env.admin, "tenant", "move", env.first.slug, "--to", "main", "--settle-seconds", "0")
        assert code == 0, out


def test_a_server_where_the_admin_may_not_create_roles_waits_and_the_rest_migrate(env: Env) -> None:
    """Placed last: it leaves a drained server behind in the module's catalog."""
    with second_server() as weak:
        with psycopg.connect(f"{weak}/postgres", autocommit=True) as conn:
            conn.execute("CREATE ROLE weak LOGIN CREATEDB")  # no CREATEROLE
        url = weak.replace("postgres@", "weak@")
        code, out = omni(env.admin, "db-server", "add", "weak", url, "--no-password")
        assert code == 0, out
        assert "could not be created" in out  # the server is registered; migrate will say more
        code, out = omni(env.admin, "db-server", "drain", "weak")
        assert code == 0, out
        code, out = omni(env.admin, "migrate")  # exits 0 here: no tenant of its own failed
        assert "server weak DOWN" in out, out
        assert "may not create the services' roles" in out
        with psycopg.connect(env.conninfo("postgres", "omnipriv")) as conn:
            rows = conn.execute("SELECT slug, last_migration_error FROM tenants ORDER BY slug").fetchall()
        assert all(error is None for _slug, error in rows), rows  # the other servers' tenants migrated
