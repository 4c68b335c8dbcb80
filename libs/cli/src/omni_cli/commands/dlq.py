"""``omni dlq ...`` (dead letters: list, show, replay) and ``omni topology declare``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer

dlq_app = typer.Typer(no_args_is_help=True, help="Dead-lettered messages: list, show, replay.")
topology_app = typer.Typer(no_args_is_help=True, help="The broker topology (exchanges and queues).")

T = TypeVar("T")


def register(app: typer.Typer) -> None:
    """Attach the ``dlq`` and ``topology`` command groups."""
    app.add_typer(dlq_app, name="dlq")
    app.add_typer(topology_app, name="topology")


def _run(work: Callable[[Any, Any], Awaitable[T]], *, name: str) -> T:
    """Build settings, connect, run ``work(connection, topology)``, close."""
    # Imported here so `omni --help` stays fast and settings are read only when a command runs.
    from omni_common.broker import build_topology, connect
    from omni_common.logging import configure_logging
    from omni_common.settings import Settings

    settings = Settings()
    # Logs go to stderr, so `--json` output on stdout stays one clean document.
    configure_logging(service="omni-cli", json=settings.log_json, level="WARNING")
    topology = build_topology(
        retry_delays_ms=settings.retry_delays_ms, delivery_limit=settings.delivery_limit
    )

    async def main() -> T:
        connection = await connect(settings.rabbitmq_url, name=name)
        try:
            return await work(connection, topology)
        finally:
            await connection.close()

    return asyncio.run(main())


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@dlq_app.command("list")
def list_(
    queue: str | None = typer.Option(None, "--queue", help="A stage (ingress.raw), work queue or .dlq name."),
    reason: str | None = typer.Option(None, "--reason", help="Only dead letters with this reason."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """List dead-lettered messages with their reasons (nothing is removed)."""
    from omni_common.broker import list_dead_letters

    infos = _run(lambda c, t: list_dead_letters(c, t, queue=queue, reason=reason), name="omni-cli-dlq")
    if as_json:
        _print_json([i.to_dict() for i in infos])
        return
    if not infos:
        typer.echo("No dead letters.")
        return
    for i in infos:
        typer.echo(
            f"{i.id}  {i.queue}  reason={i.reason}  at={i.dead_lettered_at or '-'}  "
            f"rk={i.routing_key}  {i.body_size}B  {i.detail[:80]}"
        )
    typer.echo(f"{len(infos)} dead letter(s).")


@dlq_app.command("show")
def show_(message_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Show one dead letter, headers and body included, as JSON."""
    from omni_common.broker import show

    info = _run(lambda c, t: show(c, t, message_id), name="omni-cli-dlq")
    if info is None:
        typer.echo(f"No dead letter with id {message_id!r}.", err=True)
        raise typer.Exit(1)
    _print_json(info.to_dict())


@dlq_app.command("replay")
def replay_(
    message_id: str | None = typer.Argument(None, metavar="[ID]"),
    all_: bool = typer.Option(False, "--all", help="Replay every dead letter (filtered by --reason)."),
    reason: str | None = typer.Option(None, "--reason", help="Only dead letters with this reason."),
    queue: str | None = typer.Option(None, "--queue", help="Only this stage's dead letters."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be replayed; change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Send dead letters back to their source queue (attempt 1), then remove them from the DLQ."""
    from omni_common.broker import Publisher, replay

    if (message_id is None) == (not all_):
        typer.echo("Give exactly one of ID or --all.", err=True)
        raise typer.Exit(2)

    async def work(connection: Any, topology: Any) -> Any:
        publisher = Publisher(connection, exchange=topology.events_exchange)
        await publisher.start()
        try:
            ids = None if all_ else [message_id]
            return await replay(
                connection, topology, publisher, ids=ids, reason=reason, queue=queue, dry_run=dry_run
            )
        finally:
            await publisher.close()

    report = _run(work, name="omni-cli-dlq")
    if as_json:
        _print_json(report.to_dict())
    else:
        verb = "Would replay" if dry_run else "Replayed"
        for i in report.replayed:
            typer.echo(f"{verb} {i.id} -> {i.source_queue} (was: {i.reason})")
        for mid, err in report.failed:
            typer.echo(f"FAILED {mid}: {err}", err=True)
        typer.echo(f"{verb} {len(report.replayed)}, failed {len(report.failed)}.")
    if report.failed:
        raise typer.Exit(1)
    if message_id is not None and not report.replayed:
        typer.echo(f"No dead letter with id {message_id!r}.", err=True)
        raise typer.Exit(1)


@topology_app.command("declare")
def declare() -> None:
    """Declare every exchange and queue (idempotent; fails clearly on conflicting arguments)."""
    from omni_common.broker import TopologyError, declare_topology

    async def work(connection: Any, topology: Any) -> int:
        async with connection.channel() as channel:
            await declare_topology(channel, topology)
        return len(topology.queues)

    try:
        n = _run(work, name="omni-cli-topology")
    except TopologyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"Topology declared ({n} queues).")
