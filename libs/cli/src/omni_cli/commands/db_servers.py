"""``omni db-server add|list|drain|activate`` and ``omni tenant move``: the database servers tenant
databases live on, and moving a tenant between them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer

from omni_cli.commands.tenancy import _fail, _settings, tenant_app

server_app = typer.Typer(no_args_is_help=True, help="Database servers for tenant databases.")


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]
    return str(n)


async def _with_catalog(settings: Any, work: Any) -> Any:
    from omni_common.db.catalog import Catalog, catalog_engine

    engine = catalog_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        return await work(Catalog(engine))
    finally:
        await engine.dispose()


@server_app.command("add")
def server_add(
    name: str = typer.Argument(..., help="Short name: a-z, 0-9, '-' (e.g. tenants-b)."),
    url: str = typer.Argument(..., help="postgresql://user@host:port (a password in it is NOT stored)."),
    max_tenants: int | None = typer.Option(None, "--max-tenants", min=0, help="Most tenants placed there."),
    max_connections: int | None = typer.Option(
        None, "--max-connections", min=1, help="Its max_connections, for the runbook's budget."
    ),
    password_env: str | None = typer.Option(
        None, "--password-env", help="Variable holding its password (default OMNI_DB_SERVER_<NAME>_PASSWORD)."
    ),
    no_password: bool = typer.Option(False, "--no-password", help="No password (trust, .pgpass)."),
) -> None:
    """Register a database server; new tenants may be placed there at once (it is checked first)."""
    from omni_common.db.servers import ServerRecord, default_password_env, split_secret, validate_server_name
    from omni_common.ops.db_servers import server_usage

    settings = _settings()
    try:
        validate_server_name(name)
        bare, password = split_secret(url)
    except ValueError as exc:
        raise _fail(f"error: {exc}") from exc
    env = None if no_password else (password_env or default_password_env(name))
    record = ServerRecord(name, bare, env, max_tenants, max_connections, "active")
    # Checked with the password given (if any) so a typo fails here, not at the first tenant.
    probe = url if password else bare
    usage = asyncio.run(
        server_usage(settings.database_url, ServerRecord("probe", probe, None, None, None, "active"), [])
    )
    if usage.error is not None:
        raise _fail(f"error: the server did not answer: {usage.error}")
    added = asyncio.run(
        _with_catalog(
            settings,
            lambda c: c.add_server(
                name, bare, password_env=env, max_tenants=max_tenants, max_connections=max_connections
            ),
        )
    )
    if not added:
        raise _fail(f"error: a server named {name!r} exists already; nothing changed")
    _ensure_roles(name, probe)
    typer.echo(f"server {name} added: {record.url} (max tenants {max_tenants or 'unlimited'})")
    if env:
        typer.echo(f"its password is not stored: set {env} in every service's environment")


def _ensure_roles(name: str, url: str) -> None:
    """The services' roles on the new server, before any tenant goes there (``db/grants.py``)."""
    from omni_common.db.grants import ensure_roles

    try:
        created = asyncio.run(ensure_roles(url, database="postgres"))
    except Exception as exc:
        typer.echo(f"warning: the services' database roles could not be created on {name}: {exc}", err=True)
        typer.echo("run `omni migrate` once the admin may create roles there (CREATEROLE)", err=True)
        return
    if created:
        typer.echo(f"database roles created on {name}: {', '.join(created)}")


@server_app.command("list")
def server_list(as_json: bool = typer.Option(False, "--json", help="One JSON document for scripts.")) -> None:
    """Servers with their state, tenants, size and connections in use."""
    from omni_common.ops.db_servers import ServerUsage, server_usage

    settings = _settings()

    async def run(catalog: Any) -> list[ServerUsage]:
        tenants = await catalog.list_tenants()
        servers = await catalog.list_servers()
        return list(
            await asyncio.gather(
                *(
                    server_usage(settings.database_url, s, [t.db_name for t in tenants if t.server == s.name])
                    for s in servers
                )
            )
        )

    usages: list[ServerUsage] = asyncio.run(_with_catalog(settings, run))
    if as_json:
        rows = [
            {
                "name": u.server.name,
                "url": u.server.url,
                "state": u.server.state,
                "tenants": u.server.tenants,
                "max_tenants": u.server.max_tenants,
                "size_bytes": u.size_bytes,
                "connections": u.connections,
                "max_connections": u.max_connections,
                "error": u.error,
            }
            for u in usages
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"{'server':<16} {'state':<9} {'tenants':>9} {'size':>10} {'connections':>12}  url")
    for u in usages:
        s = u.server
        tenants = f"{s.tenants}/{s.max_tenants}" if s.max_tenants is not None else str(s.tenants)
        conns = "down" if u.error else f"{u.connections}/{u.max_connections}"
        typer.echo(
            f"{s.name:<16} {s.state:<9} {tenants:>9} {_size(u.size_bytes):>10} {conns:>12}  "
            f"{s.url or '(the catalog server)'}"
        )
        if u.error:
            typer.echo(f"  {s.name} not answering: {u.error}", err=True)


def _set_state(name: str, state: str) -> None:
    settings = _settings()
    if not asyncio.run(_with_catalog(settings, lambda c: c.set_server_state(name, state))):
        raise _fail(f"error: no database server {name!r}")


@server_app.command("drain")
def server_drain(name: str = typer.Argument(...)) -> None:
    """Place no new tenants on this server (its tenants stay; move them with `omni tenant move`)."""
    _set_state(name, "draining")
    typer.echo(f"server {name} is draining: no new tenants go there")


@server_app.command("activate")
def server_activate(name: str = typer.Argument(...)) -> None:
    """Let placement use this server again (after `drain`, or when a full one got room)."""
    _set_state(name, "active")
    typer.echo(f"server {name} is active")


@tenant_app.command("move")
def tenant_move(
    slug: str = typer.Argument(...),
    to: str | None = typer.Option(None, "--to", help="The server to move the tenant's database to."),
    drop_source: bool = typer.Option(
        False, "--drop-source", help="Drop the old database once the copy is checked and in use."
    ),
    abort: bool = typer.Option(False, "--abort", help="Roll back a move not yet switched."),
    settle_seconds: float = typer.Option(
        7.0, "--settle-seconds", min=0, help="How long services may act on what they cached of the tenant."
    ),
) -> None:
    """Move a tenant's database to another server: its events wait in RabbitMQ during the copy.

    Re-run the same command after any interruption: it finishes the move (or use --abort before
    the switch). The old database stays, read-only, until --drop-source.
    """
    from omni_common.db.catalog import Catalog, catalog_engine
    from omni_common.errors import TenantError
    from omni_common.tenancy.move import Mover

    settings = _settings()
    if (to is None) == (not abort):
        raise _fail("error: give --to SERVER, or --abort")

    async def run() -> str:
        engine = catalog_engine(settings.database_url, pool_size=1, max_overflow=1)
        mover = Mover(
            Catalog(engine),
            settings.database_url,
            settle_s=settle_seconds,
            on_step=lambda step: typer.echo(f"  {slug}: {step}"),
        )
        try:
            if abort:
                state = await mover.abort(slug)
                return f"move of {slug} rolled back" if state else f"no move of {slug} to roll back"
            assert to is not None
            state = await mover.move(slug, to, drop_source=drop_source)
            left = "old database dropped" if state.step == "dropped" else "old database kept, read-only"
            return f"tenant {slug} is on {to} ({left})"
        finally:
            await engine.dispose()

    try:
        typer.echo(asyncio.run(run()))
    except (TenantError, ValueError) as exc:
        raise _fail(f"error: {exc}") from exc


def register(app: typer.Typer) -> None:
    """Attach ``omni db-server`` to the root app."""
    app.add_typer(server_app, name="db-server")
