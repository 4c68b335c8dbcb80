"""``omni migrate``, ``omni tenant ...``, ``omni user add`` and ``omni keys ...``."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # imported when run, not for `omni --help`
    from sqlalchemy.ext.asyncio import AsyncSession

tenant_app = typer.Typer(no_args_is_help=True, help="Create and list tenants.")
user_app = typer.Typer(no_args_is_help=True, help="Manage a tenant's users.")
keys_app = typer.Typer(no_args_is_help=True, help="Encryption keys of stored credentials.")


def _settings() -> Any:
    """Settings and logging, built only when a command runs (never at import)."""
    from omni_common.logging import configure_logging
    from omni_common.settings import Settings

    settings = Settings()
    configure_logging(service="cli", json=settings.log_json, level=settings.log_level)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per tenant is enough
    return settings


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def migrate(
    concurrency: int = typer.Option(4, min=1, max=32, help="Tenant databases upgraded at once."),
) -> None:
    """Create the catalog if missing, then bring it and every tenant database to the latest migration."""
    from omni_common.tenancy.migrate import migrate_all

    settings = _settings()
    step = 1

    def progress(done: int, total: int, tenant: Any, error: str | None) -> None:
        nonlocal step
        if error is not None:
            typer.secho(f"  {tenant.slug}: FAILED: {error}", err=True, fg=typer.colors.RED)
        step = max(1, total // 20)
        if done == total or done % step == 0:
            typer.echo(f"tenants migrated: {done}/{total}")

    report = asyncio.run(migrate_all(settings.database_url, concurrency=concurrency, progress=progress))
    typer.echo(f"catalog at {report.catalog_revision}; tenant head {report.head}")
    for name, error in sorted(report.servers_down.items()):
        typer.secho(f"server {name} DOWN: its tenants wait for the next run ({error})", err=True, fg="red")
    typer.echo(f"{len(report.migrated)} tenant(s) at head, {len(report.failed)} failed")
    if report.failed:
        raise _fail(
            "failed tenants (re-run `omni migrate` after fixing): " + ", ".join(sorted(report.failed))
        )


@tenant_app.command("create")
def tenant_create(
    slug: str = typer.Argument(..., help="Short id: 2-49 of a-z, 0-9, '-'."),
    name: str = typer.Option(..., "--name", help="Display name of the business."),
    owner_email: str = typer.Option(..., "--owner-email"),
    owner_password: str = typer.Option(..., "--owner-password"),
    server: str | None = typer.Option(
        None, "--server", help="Database server (omni db-server list); default: the one with most room."
    ),
) -> None:
    """Create a tenant (database, migrations, catalog entry, business_owner); re-run finishes a crash."""
    from omni_common.crypto import KeyRing
    from omni_common.errors import TenantError
    from omni_common.tenancy.provisioning import create_tenant

    settings = _settings()
    keys = settings.encryption_key_list()
    try:
        tenant = asyncio.run(
            create_tenant(
                settings.database_url,
                slug,
                display_name=name,
                owner_email=owner_email,
                owner_password=owner_password,
                # the tenant's Web Push key is made here when keys are set (else on first use)
                keyring=KeyRing.from_strings(keys) if keys else None,
                server=server,
            )
        )
    except (TenantError, ValueError) as exc:
        raise _fail(f"error: {exc}") from exc
    typer.echo(
        f"tenant {tenant.slug} ({tenant.id}) is {tenant.status} at {tenant.schema_revision}"
        f" on server {tenant.server}"
    )


@tenant_app.command("list")
def tenant_list(as_json: bool = typer.Option(False, "--json", help="One JSON document for scripts.")) -> None:
    """Tenants with their status and schema revision."""
    from omni_common.db.catalog import Catalog, catalog_engine

    settings = _settings()

    async def run() -> list[Any]:
        engine = catalog_engine(settings.database_url, pool_size=1, max_overflow=0)
        try:
            return await Catalog(engine).list_tenants()
        finally:
            await engine.dispose()

    tenants = asyncio.run(run())
    if as_json:
        rows = [
            {
                "id": str(t.id),
                "slug": t.slug,
                "name": t.display_name,
                "db_name": t.db_name,
                "status": t.status,
                "server": t.server,
                "schema_revision": t.schema_revision,
                "last_migration_error": t.last_migration_error,
                "created_at": t.created_at.isoformat(),
            }
            for t in tenants
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not tenants:
        typer.echo("no tenants")
    for t in tenants:
        error = f"  error: {t.last_migration_error}" if t.last_migration_error else ""
        typer.echo(
            f"{t.slug:<30} {t.status:<13} {t.server:<12} {t.schema_revision or '-':<12}"
            f" {t.display_name}{error}"
        )


@user_app.command("add")
def user_add(
    slug: str = typer.Argument(...),
    email: str = typer.Option(..., "--email"),
    password: str = typer.Option(..., "--password"),
    role: str = typer.Option(
        ..., "--role", help="business_owner|manager|staff|investor|customer|super_admin"
    ),
    display_name: str | None = typer.Option(None, "--display-name"),
) -> None:
    """Add a user to a tenant."""
    from omni_common.tenancy.users import add_user

    async def add(session: AsyncSession) -> str:
        user = await add_user(session, email, password, role, display_name=display_name)
        return f"user {user.email} ({role}) added to {slug}"

    in_tenant(slug, add)


def in_tenant(slug: str, work: Callable[[AsyncSession], Awaitable[str]]) -> None:
    """Run ``work`` in one transaction of tenant ``slug``'s database (found through the catalog) and
    print what it says; a refusal is printed as an error, exit code 1."""
    from omni_common.db.catalog import Catalog, catalog_engine
    from omni_common.db.registry import TenantEngineRegistry
    from omni_common.errors import OmniError, TenantNotFound

    settings = _settings()

    async def run() -> str:
        engine = catalog_engine(settings.database_url, pool_size=1, max_overflow=0)
        catalog = Catalog(engine)
        registry = TenantEngineRegistry(catalog, server_url=settings.database_url, connections_per_server=4)
        try:
            tenant = await catalog.get_tenant_by_slug(slug)
            if tenant is None:
                raise TenantNotFound(f"no tenant {slug!r}")
            async with registry.begin(tenant.id) as session:
                return await work(session)
        finally:
            await registry.close()
            await engine.dispose()

    try:
        typer.echo(asyncio.run(run()))
    except (OmniError, ValueError) as exc:
        raise _fail(f"error: {exc}") from exc


@keys_app.command("new")
def keys_new() -> None:
    """Print a fresh key; put it FIRST in OMNI_ENCRYPTION_KEYS, keep the old ones, run `omni keys rotate`."""
    from omni_common.crypto import generate_key

    typer.echo(generate_key())


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every tenant's stored credentials under the first key of OMNI_ENCRYPTION_KEYS."""
    from omni_common.crypto import KeyRing
    from omni_common.tenancy.keys import rotate_keys

    settings = _settings()
    try:
        ring = KeyRing.from_strings(settings.encryption_key_list())
    except ValueError as exc:
        raise _fail(f"error: {exc}") from exc
    report = asyncio.run(rotate_keys(settings.database_url, ring))
    typer.echo(
        f"key {ring.primary_id}: {report.rotated} credential(s) re-encrypted, "
        f"{report.unchanged} already current, {report.tenants} tenant(s)"
    )
    if report.failed:
        raise _fail("failed tenants: " + ", ".join(sorted(report.failed)))


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the root app."""
    app.command("migrate")(migrate)
    app.add_typer(tenant_app, name="tenant")
    app.add_typer(user_app, name="user")
    app.add_typer(keys_app, name="keys")
