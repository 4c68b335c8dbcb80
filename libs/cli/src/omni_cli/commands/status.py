"""``omni status``: what an operator looks at first."""

from __future__ import annotations

import asyncio
import json

import typer


def status(as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """Queues (depth, consumers, dead letters), tenants by status, accounts needing re-auth."""
    from omni_common.broker import connect, topology_for
    from omni_common.db.catalog import Catalog, catalog_engine
    from omni_common.db.servers import server_admin_url
    from omni_common.db.service_registry import registry_for
    from omni_common.logging import configure_logging
    from omni_common.ops.status import Status, connection_status, queue_status, tenant_status
    from omni_common.settings import Settings

    settings = Settings()
    configure_logging(service="omni-cli", json=settings.log_json, level="WARNING")
    topology = topology_for(settings)

    async def gather() -> Status:
        result = Status()
        connection = await connect(settings.rabbitmq_url, name="omni-status")
        try:
            result.queues = await queue_status(connection, topology)
        finally:
            await connection.close()
        engine = catalog_engine(settings.database_url)
        registry = registry_for(settings, Catalog(engine), name="status")
        try:
            # Every database server of the catalog (and a legacy per-tenant URL, if any is left).
            servers = [
                server_admin_url(settings.database_url, s).render_as_string(hide_password=False)
                for s in await Catalog(engine).list_servers()
            ] + [t.db_url for t in await Catalog(engine).list_tenants() if t.db_url]
            result.connections = await connection_status(servers)
            result.tenants_by_status, result.needs_reauth, result.unreachable_tenants = await tenant_status(
                Catalog(engine), registry
            )
        finally:
            await registry.close()
            await engine.dispose()
        return result

    report = asyncio.run(gather())
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    typer.echo("queues (messages / consumers):")
    for q in report.queues:
        shown = "missing" if q.messages is None else f"{q.messages} / {q.consumers}"
        flag = "  <- dead letters" if q.name.endswith(".dlq") and q.messages else ""
        typer.echo(f"  {q.name:<36} {shown}{flag}")
    typer.echo("database connections (in use / max, by service):")
    for c in report.connections:
        if c.error:
            typer.echo(f"  {c.server:<22} not answering: {c.error}")
            continue
        who = ", ".join(f"{k} {v}" for k, v in sorted(c.by_service.items(), key=lambda kv: -kv[1]))
        typer.echo(f"  {c.server:<22} {c.in_use} / {c.max_connections}  ({who})")
    typer.echo(
        "tenants: " + (", ".join(f"{k} {v}" for k, v in sorted(report.tenants_by_status.items())) or "none")
    )
    if report.needs_reauth:
        typer.echo("accounts needing re-auth:")
        for r in report.needs_reauth:
            typer.echo(f"  {r['tenant']}: {r['channel']} {r['account']}")
    for t in report.unreachable_tenants:
        typer.echo(f"tenant database not answering: {t['tenant']} ({t['error']})", err=True)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
