"""Tenant provisioning: a crash-safe, re-runnable sequence of idempotent steps.

1. ``row``: catalog row with status ``provisioning`` (the tenant id and its server are fixed from
   here on: ``--server``, else the active server with the most room, ``domain/placement.py``);
2. ``database``: CREATE DATABASE from the migrated template DB of that server (a local copy: fast);
3. ``migrate``: upgrade to head (normally nothing to do: the template is kept at head), then the
   services' roles ensured on the server and the privilege matrix granted (``db/grants.py``);
4. ``owner``: the ``business_owner`` user (skipped when the email exists);
5. ``active``: schema revision recorded, status ``active``.

A crash anywhere leaves a ``provisioning`` tenant that re-running ``create`` finishes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import psycopg
import structlog
from argon2 import PasswordHasher
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from omni_common.crypto import KeyRing
from omni_common.db import alembic_runner
from omni_common.db.catalog import Catalog, TenantRecord, catalog_engine
from omni_common.db.grants import ensure_roles, grant_database
from omni_common.db.servers import admin_database, server_url, tenant_url
from omni_common.dburl import async_url, database_name, libpq_conninfo
from omni_common.domain.placement import ServerRoom, has_room, pick_server, room
from omni_common.errors import TenantError
from omni_common.tenancy import push_keys, users

log = structlog.get_logger(__name__)

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,48}$")
# Advisory lock on the catalog DB guarding the template: shared while copying it, exclusive while
# upgrading it (CREATE DATABASE ... TEMPLATE fails when anyone is connected to the template).
TEMPLATE_LOCK_KEY = 0x6F6D6E69_74706C74  # "omnitplt"
# Transaction-level lock in the tenant DB so concurrent re-runs create the owner only once.
OWNER_LOCK_KEY = 0x6F6D6E69_6F776E72  # "omniownr"
Step = Literal["row", "database", "migrate", "owner", "active"]
Strategy = Literal["WAL_LOG", "FILE_COPY"]


def validate_slug(slug: str) -> str:
    """``slug`` if valid (lowercase letters, digits, dashes; 2-49 chars), else ValueError."""
    if not SLUG_RE.fullmatch(slug):
        raise ValueError(f"invalid tenant slug {slug!r}: use 2-49 of a-z, 0-9 and '-', not starting with '-'")
    return slug


def tenant_db_name(catalog_db: str, tenant_id: uuid.UUID) -> str:
    """Derived (never user-given) tenant database name, unique per installation."""
    return f"{catalog_db[:24]}_t_{tenant_id.hex}".lower()


def template_db_name(catalog_db: str) -> str:
    """Name of the migrated template database tenant databases are copied from."""
    return f"{catalog_db[:24]}_template".lower()


def _marker(revision: str) -> str:
    return f"omni tenant template; revision={revision}"


async def admin_connect(url: str | URL, database: str) -> psycopg.AsyncConnection:
    """An autocommit psycopg connection (CREATE DATABASE cannot run in a transaction)."""
    return await psycopg.AsyncConnection.connect(
        libpq_conninfo(url, database=database), autocommit=True, application_name="omni:admin"
    )


async def database_exists(conn: psycopg.AsyncConnection, name: str) -> bool:
    """True when the server of ``conn`` has a database ``name``."""
    cur = await conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    return await cur.fetchone() is not None


async def existing_databases(conn: psycopg.AsyncConnection, names: Sequence[str]) -> set[str]:
    """The subset of ``names`` that exist on the server of ``conn``."""
    cur = await conn.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s)", (list(names),))
    return {r[0] for r in await cur.fetchall()}


async def create_database(
    conn: psycopg.AsyncConnection, name: str, *, template: str | None = None, strategy: Strategy | None = None
) -> bool:
    """CREATE DATABASE unless it exists; True when created by this call."""
    if await database_exists(conn, name):
        return False
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    if strategy and conn.info.server_version >= 150000:
        query += sql.SQL(" STRATEGY {}").format(
            sql.SQL({"WAL_LOG": "WAL_LOG", "FILE_COPY": "FILE_COPY"}[strategy])
        )
    try:
        await conn.execute(query)
    except psycopg.errors.DuplicateDatabase:
        return False  # created concurrently by another run: same outcome
    return True


async def _template_marker(conn: psycopg.AsyncConnection, template: str) -> str | None:
    cur = await conn.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (template,)
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def refresh_template(
    conn: psycopg.AsyncConnection, server_url: str | URL, *, extra_version_locations: Sequence[str] = ()
) -> str:
    """Create the template DB if missing and upgrade it to head; caller holds the exclusive lock."""
    template = template_db_name(database_name(server_url))
    await create_database(conn, template)
    revision = await alembic_runner.upgrade(
        async_url(server_url, database=template), "tenant", extra_version_locations=extra_version_locations
    )
    # The revision is also kept in the DB comment, readable without connecting to the template
    # (a connection to it would make concurrent CREATE DATABASE ... TEMPLATE fail).
    await conn.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(template), sql.Literal(_marker(revision))
        )
    )
    log.info("tenant_template_ready", template=template, revision=revision)
    return revision


async def copy_template(
    conn: psycopg.AsyncConnection,
    server_url: str | URL,
    target: str,
    *,
    strategy: Strategy = "WAL_LOG",
    extra_version_locations: Sequence[str] = (),
) -> bool:
    """CREATE DATABASE ``target`` from the template, refreshing the template first if behind head."""
    template = template_db_name(database_name(server_url))
    head = alembic_runner.head_revision("tenant", extra_version_locations)
    while True:
        await conn.execute("SELECT pg_advisory_lock_shared(%s)", (TEMPLATE_LOCK_KEY,))
        try:
            if await _template_marker(conn, template) == _marker(head):
                return await create_database(conn, target, template=template, strategy=strategy)
        finally:
            await conn.execute("SELECT pg_advisory_unlock_shared(%s)", (TEMPLATE_LOCK_KEY,))
        await conn.execute("SELECT pg_advisory_lock(%s)", (TEMPLATE_LOCK_KEY,))
        try:
            if await _template_marker(conn, template) != _marker(head):
                await refresh_template(conn, server_url, extra_version_locations=extra_version_locations)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (TEMPLATE_LOCK_KEY,))


async def place(catalog: Catalog, server: str | None) -> str:
    """The server a new tenant goes to: ``server`` if it may take one, else the one with most room."""
    servers = await catalog.list_servers()
    rooms = [ServerRoom(s.name, s.state, s.tenants, s.max_tenants) for s in servers]
    if server is not None:
        chosen = next((r for r in rooms if r.name == server), None)
        if chosen is None:
            raise TenantError(f"no database server {server!r} (see `omni db-server list`)")
        if not has_room(chosen):
            raise TenantError(
                f"database server {server!r} takes no new tenants ({chosen.state}, full or draining)"
            )
        return server
    picked = pick_server(rooms)
    if picked is None:
        raise TenantError("no database server has room: add one (`omni db-server add`) or raise a limit")
    return picked.name


async def mark_full_if_at_limit(catalog: Catalog, server: str) -> None:
    """An active server that reached its tenant limit becomes ``full`` (placement skips it)."""
    record = await catalog.get_server(server)
    if record is None or record.state != "active":
        return
    if room(ServerRoom(record.name, record.state, record.tenants, record.max_tenants)) <= 0:
        await catalog.set_server_state(server, "full")
        log.info("db_server_full", server=server, tenants=record.tenants)


@dataclass
class Provisioner:
    """Creates tenants; ``server_url`` is the catalog database's URL (the ``main`` server's, and the
    name tenant and template databases derive from); tenant DBs go on the server placement picks."""

    catalog: Catalog
    server_url: str | URL
    strategy: Strategy = "WAL_LOG"
    hasher: PasswordHasher | None = None
    extra_version_locations: Sequence[str] = ()
    # Seals the tenant's Web Push key made here (``push_keys``); None: made on first use instead.
    keyring: KeyRing | None = None

    async def create_tenant(
        self,
        slug: str,
        *,
        display_name: str,
        owner_email: str,
        owner_password: str,
        stop_after: Step | None = None,
        server: str | None = None,
    ) -> TenantRecord:
        """Create (or finish creating) a tenant; TenantError if it is already active or suspended.

        ``server``: the database server to use (a resumed tenant keeps the one it was given)."""
        validate_slug(slug)
        owner_email = users.normalize_email(owner_email)
        if len(owner_password) < users.MIN_PASSWORD_LENGTH:  # refuse before anything is created
            raise ValueError(f"the owner password needs at least {users.MIN_PASSWORD_LENGTH} characters")
        record = await self.catalog.get_tenant_by_slug(slug)
        if record is None:
            tenant_id = uuid.uuid4()
            record = await self.catalog.insert_tenant(
                tenant_id=tenant_id,
                slug=slug,
                display_name=display_name,
                db_name=tenant_db_name(database_name(self.server_url), tenant_id),
                server=await place(self.catalog, server),
            )
        if record.status in ("active", "suspended"):
            raise TenantError(f"tenant {slug!r} already exists and is {record.status}; nothing changed")
        if record.db_url is not None:
            raise TenantError(f"tenant {slug!r} lives on another server; finish its provisioning there")
        bound = log.bind(tenant_id=str(record.id), slug=slug)
        bound.info("tenant_provisioning", resume=record.status)
        if stop_after == "row":
            return record
        try:
            revision = await self._provision(record, owner_email, owner_password, stop_after)
        except Exception as exc:
            bound.error("tenant_provisioning_failed", error=type(exc).__name__)
            await self.catalog.set_tenant_status(record.id, "failed")
            await self.catalog.set_tenant_revision(record.id, None, error=f"provisioning: {exc}"[:2000])
            raise
        if revision is None:  # stopped early (tests simulate a crash)
            return record
        await self.catalog.set_tenant_revision(record.id, revision, error=None)
        await self.catalog.set_tenant_status(record.id, "active")
        await mark_full_if_at_limit(self.catalog, record.server)
        bound.info("tenant_active", revision=revision, server=record.server)
        final = await self.catalog.get_tenant(record.id)
        assert final is not None
        return final

    async def _provision(
        self, record: TenantRecord, owner_email: str, owner_password: str, stop_after: Step | None
    ) -> str | None:
        base = server_url(self.server_url, record.server_url, record.server_password_env)
        admin_db = admin_database(record.server, self.server_url)
        conn = await admin_connect(base, admin_db)
        try:
            await copy_template(
                conn,
                base,
                record.db_name,
                strategy=self.strategy,
                extra_version_locations=self.extra_version_locations,
            )
        finally:
            await conn.close()
        if stop_after == "database":
            return None
        url = tenant_url(self.server_url, record)
        head = alembic_runner.head_revision("tenant", self.extra_version_locations)
        engine = create_async_engine(
            url, poolclass=NullPool, connect_args={"application_name": "omni:provision"}
        )
        try:
            async with engine.connect() as conn_:
                revision = await conn_.run_sync(alembic_runner.current_revision)
            if revision != head:  # normally equal: the template is at head
                revision = await alembic_runner.upgrade(
                    url, "tenant", extra_version_locations=self.extra_version_locations
                )
            # A new tenant is never left without its grants (a new server may not have the roles yet).
            await ensure_roles(base, database=admin_db)
            await grant_database(url, "tenant")
            if stop_after == "migrate":
                return None
            async with AsyncSession(engine) as session, session.begin():
                await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": OWNER_LOCK_KEY})
                if await users.get_user_by_email(session, owner_email) is None:
                    await users.add_user(
                        session, owner_email, owner_password, "business_owner", hasher=self.hasher
                    )
                if self.keyring is not None:
                    await push_keys.ensure_pair(session, record.id, self.keyring)
            if stop_after == "owner":
                return None
        finally:
            await engine.dispose()
        return revision


async def create_tenant(
    database_url: str,
    slug: str,
    *,
    display_name: str,
    owner_email: str,
    owner_password: str,
    strategy: Strategy = "WAL_LOG",
    stop_after: Step | None = None,
    keyring: KeyRing | None = None,
    server: str | None = None,
) -> TenantRecord:
    """One-shot :meth:`Provisioner.create_tenant` with its own catalog engine (the CLI's entry)."""
    engine = catalog_engine(database_url, pool_size=1, max_overflow=1)
    try:
        provisioner = Provisioner(Catalog(engine), database_url, strategy=strategy, keyring=keyring)
        return await provisioner.create_tenant(
            slug,
            display_name=display_name,
            owner_email=owner_email,
            owner_password=owner_password,
            stop_after=stop_after,
            server=server,
        )
    finally:
        await engine.dispose()
