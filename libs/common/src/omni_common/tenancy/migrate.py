"""``omni migrate``: catalog to head, then every tenant database on every database server, one failure
(a tenant, or a whole server down) never stopping the rest. On the way, the services' roles are created
on every server and the privilege matrix granted on the catalog and on every tenant database
(``db/grants.py``): a grant that fails counts as that database's failure."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import psycopg
import structlog
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from omni_common.db import alembic_runner
from omni_common.db.catalog import Catalog, TenantRecord, catalog_engine
from omni_common.db.grants import ensure_roles, grant_database
from omni_common.db.servers import ServerRecord, admin_database, server_url, tenant_url
from omni_common.dburl import database_name
from omni_common.tenancy.provisioning import (
    TEMPLATE_LOCK_KEY,
    admin_connect,
    create_database,
    database_exists,
    existing_databases,
    refresh_template,
    template_db_name,
)

log = structlog.get_logger(__name__)

MIGRATABLE = ("active", "failed", "provisioning")
Progress = Callable[[int, int, TenantRecord, str | None], None]


@dataclass
class MigrateReport:
    """Outcome of one ``omni migrate`` run."""

    catalog_revision: str
    head: str
    migrated: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    servers_down: dict[str, str] = field(default_factory=dict)  # server name -> error

    @property
    def ok(self) -> bool:
        return not self.failed


def describe_error(exc: BaseException) -> str:
    """A one-line, secret-free error text for the catalog (the driver's message, not the URL)."""
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return f"{type(inner).__name__}: {inner}".strip().replace("\n", " ")[:2000]


async def ensure_catalog_database(database_url: str | URL) -> bool:
    """Create the catalog database if missing (connecting to the server's ``postgres`` DB)."""
    conn = await admin_connect(database_url, "postgres")
    try:
        return await create_database(conn, database_name(database_url))
    finally:
        await conn.close()


async def _candidates(
    database_url: str | URL, admin_db: str, tenants: list[TenantRecord]
) -> list[TenantRecord]:
    """Tenants whose database should be upgraded (a provisioning/failed one only if its DB exists)."""
    conn = await admin_connect(database_url, admin_db)
    try:
        local = [t.db_name for t in tenants if t.db_url is None]
        present = await existing_databases(conn, local)
    finally:
        await conn.close()
    return [t for t in tenants if t.status == "active" or t.db_url is not None or t.db_name in present]


async def _refresh_template_if_present(database_url: str | URL, admin_db: str, extra: Sequence[str]) -> None:
    conn = await admin_connect(database_url, admin_db)
    try:
        if not await database_exists(conn, template_db_name(database_name(database_url))):
            return  # created lazily by the first `tenant create`
        await conn.execute("SELECT pg_advisory_lock(%s)", (TEMPLATE_LOCK_KEY,))
        try:
            await refresh_template(conn, database_url, extra_version_locations=extra)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (TEMPLATE_LOCK_KEY,))
    finally:
        await conn.close()


async def _prepare_server(
    catalog_url: str | URL, server: ServerRecord, tenants: list[TenantRecord], extra: Sequence[str]
) -> list[TenantRecord]:
    """Refresh the server's template (if it has one); its tenants to upgrade. Raises if it is down."""
    base = server_url(catalog_url, server.url, server.password_env)
    admin_db = admin_database(server.name, catalog_url)
    await ensure_roles(base, database=admin_db)
    await _refresh_template_if_present(base, admin_db, extra)
    return await _candidates(base, admin_db, tenants) if tenants else []


async def migrate_all(
    database_url: str | URL,
    *,
    concurrency: int = 4,
    progress: Progress | None = None,
    extra_tenant_version_locations: Sequence[str] = (),
) -> MigrateReport:
    """Create/upgrade the catalog, then upgrade every tenant DB; failures are recorded, not raised."""
    extra = tuple(extra_tenant_version_locations)
    if await ensure_catalog_database(database_url):
        log.info("catalog_created", database=database_name(database_url))
    catalog_revision = await alembic_runner.upgrade(database_url, "catalog")
    await ensure_roles(database_url)  # the catalog's server (``main``): its grants need the roles
    await grant_database(database_url, "catalog")
    head = alembic_runner.head_revision("tenant", extra)
    report = MigrateReport(catalog_revision=catalog_revision, head=head)

    engine = catalog_engine(database_url, pool_size=1, max_overflow=concurrency)
    catalog = Catalog(engine)
    try:
        tenants = await catalog.list_tenants(MIGRATABLE)
        todo: list[TenantRecord] = []
        down: list[tuple[TenantRecord, str]] = []
        for server in await catalog.list_servers():
            on_server = [t for t in tenants if t.server == server.name]
            try:
                todo += await _prepare_server(database_url, server, on_server, extra)
            except (psycopg.OperationalError, OSError, psycopg.errors.InsufficientPrivilege) as exc:
                # That server's tenants wait for the next run; the other servers' go ahead.
                if isinstance(exc, psycopg.errors.InsufficientPrivilege):
                    problem = "may not create the services' roles (the admin needs CREATEROLE there)"
                else:
                    problem = "unreachable"
                error = f"database server {server.name} {problem}: {describe_error(exc)}"[:2000]
                log.error("db_server_unreachable", server=server.name, error=error)
                report.servers_down[server.name] = error
                down += [(t, error) for t in on_server]
        report.skipped = sorted(
            {t.slug for t in tenants} - {t.slug for t in todo} - {t.slug for t, _ in down}
        )
        semaphore = asyncio.Semaphore(max(1, concurrency))
        done = 0
        total = len(todo) + len(down)
        for tenant, error in down:
            await catalog.set_tenant_revision(tenant.id, None, error=error)
            report.failed[tenant.slug] = error
            done += 1
            if progress is not None:
                progress(done, total, tenant, error)

        async def one(tenant: TenantRecord) -> None:
            nonlocal done
            error: str | None = None
            async with semaphore:
                try:
                    url = tenant_url(database_url, tenant)
                    revision = await alembic_runner.upgrade(url, "tenant", extra_version_locations=extra)
                    await grant_database(url, "tenant")
                except Exception as exc:
                    error = describe_error(exc)
                    log.error(
                        "tenant_migration_failed", tenant_id=str(tenant.id), slug=tenant.slug, error=error
                    )
                    await catalog.set_tenant_revision(tenant.id, None, error=error)
                    report.failed[tenant.slug] = error
                else:
                    await catalog.set_tenant_revision(tenant.id, revision, error=None)
                    report.migrated.append(tenant.slug)
            done += 1
            if progress is not None:
                progress(done, total, tenant, error)

        await asyncio.gather(*(one(t) for t in todo))
    finally:
        await engine.dispose()
    report.migrated.sort()
    log.info("migrate_done", migrated=len(report.migrated), failed=len(report.failed), head=head)
    return report
