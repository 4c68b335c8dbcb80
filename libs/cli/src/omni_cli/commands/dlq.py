"""``omni dlq ...`` (dead letters: list, show, replay) and ``omni topology declare``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer

dlq_app = typer.Typer(no_args_is_help=True, help="Dead-lettered messages: list, show, replay, purge.")
topology_app = typer.Typer(no_args_is_help=True, help="The broker topology (exchanges and queues).")

T = TypeVar("T")


def register(app: typer.Typer) -> None:
    """Attach the ``dlq`` and ``topology`` command groups."""
    app.add_typer(dlq_app, name="dlq")
    app.add_typer(topology_app, name="topology")


def _run(work: Callable[[Any, Any], Awaitable[T]], *, name: str) -> T:
    """Build settings, connect, run ``work(connection, topology)``, close."""
    # Imported here so `omni --help` stays fast and settings are read only when a command runs.
    from omni_common.broker import connect, topology_for
    from omni_common.logging import configure_logging
    from omni_common.settings import Settings

    settings = Settings()
    # Logs go to stderr, so `--json` output on stdout stays one clean document.
    configure_logging(service="omni-cli", json=settings.log_json, level="WARNING")
    topology = topology_for(settings)

    async def main() -> T:
        connection = await connect(settings.rabbitmq_url, name=name)
        try:
            return await work(connection, topology)
        finally:
            await connection.close()

    return asyncio.run(main())


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _age(text: str | None) -> float | None:
    """``90s``, ``30m``, ``2h``, ``7d`` -> seconds."""
    if text is None:
        return None
    unit = text[-1:].lower()
    if unit not in _UNITS or not text[:-1].isdigit():
        raise typer.BadParameter("use a number and a unit: 90s, 30m, 2h, 7d", param_hint="--older-than")
    return int(text[:-1]) * _UNITS[unit]


def _selection(
    ids: list[str] | None, reason: str | None, tenant: str | None, channel: str | None, older_than: str | None
) -> Any:
    from omni_common.broker.dlq import Selection

    return Selection(
        ids=None if ids is None else frozenset(ids),
        reason=reason,
        tenant=tenant,
        channel=channel,
        older_than_s=_age(older_than),
    )


TENANT = typer.Option(None, "--tenant", help="Only dead letters of this tenant id.")
CHANNEL = typer.Option(None, "--channel", help="Only this channel (whatsapp, facebook, instagram).")
OLDER = typer.Option(None, "--older-than", help="Only dead letters older than this (90s, 30m, 2h, 7d).")
PROGRESS_EVERY = typer.Option(500, "--progress-every", min=1, help="A progress line every N items.")


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@dlq_app.command("list")
def list_(
    queue: str | None = typer.Option(None, "--queue", help="A stage (ingress.raw), work queue or .dlq name."),
    reason: str | None = typer.Option(None, "--reason", help="Only dead letters with this reason."),
    tenant: str | None = TENANT,
    channel: str | None = CHANNEL,
    older_than: str | None = OLDER,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """List dead letters with their reasons, then counts per queue and reason (nothing is removed)."""
    from omni_common.broker import list_dead_letters
    from omni_common.broker.dlq import counts_by_queue_and_reason

    where = _selection(None, reason, tenant, channel, older_than)
    infos = _run(lambda c, t: list_dead_letters(c, t, queue=queue, where=where), name="omni-cli-dlq")
    counts = counts_by_queue_and_reason(infos)
    if as_json:
        _print_json({"dead_letters": [i.to_dict() for i in infos], "counts": counts})
        return
    if not infos:
        typer.echo("No dead letters.")
        return
    for i in infos:
        typer.echo(
            f"{i.id}  {i.queue}  reason={i.reason}  at={i.dead_lettered_at or '-'}  "
            f"rk={i.routing_key}  {i.body_size}B  {i.detail[:80]}"
        )
    typer.echo("by queue and reason:")
    width = max(len(c["queue"]) for c in counts)
    for c in counts:
        typer.echo(f"  {c['queue']:<{width}}  {c['reason']:<28} {c['count']:>6}")
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
    tenant: str | None = TENANT,
    channel: str | None = CHANNEL,
    older_than: str | None = OLDER,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be replayed; change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    progress_every: int = PROGRESS_EVERY,
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
            where = _selection(None if all_ else [message_id], reason, tenant, channel, older_than)  # type: ignore[list-item]
            return await replay(
                connection,
                topology,
                publisher,
                queue=queue,
                dry_run=dry_run,
                where=where,
                progress=_progress("would replay" if dry_run else "replayed"),
                progress_every=progress_every,
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


def _progress(verb: str) -> Callable[[int], None]:
    """Progress lines on stderr for long runs (stdout stays one document with --json)."""
    return lambda done: typer.echo(f"... {verb} {done} so far", err=True)


@dlq_app.command("purge")
def purge_(
    message_id: str | None = typer.Argument(None, metavar="[ID]"),
    all_: bool = typer.Option(False, "--all", help="Purge every dead letter matching the filters."),
    reason: str | None = typer.Option(None, "--reason", help="Only dead letters with this reason."),
    queue: str | None = typer.Option(None, "--queue", help="Only this stage's dead letters."),
    tenant: str | None = TENANT,
    channel: str | None = CHANNEL,
    older_than: str | None = OLDER,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be removed; change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    progress_every: int = PROGRESS_EVERY,
) -> None:
    """Remove dead letters for good (after deciding they need no replay); the others stay."""
    from omni_common.broker.dlq import purge

    if (message_id is None) == (not all_):
        typer.echo("Give exactly one of ID or --all.", err=True)
        raise typer.Exit(2)
    where = _selection(None if all_ else [message_id], reason, tenant, channel, older_than)  # type: ignore[list-item]
    removed = _run(
        lambda c, t: purge(
            c,
            t,
            where=where,
            queue=queue,
            dry_run=dry_run,
            progress=_progress("would purge" if dry_run else "purged"),
            progress_every=progress_every,
        ),
        name="omni-cli-dlq",
    )
    if as_json:
        _print_json({"dry_run": dry_run, "purged": [i.to_dict() for i in removed]})
        return
    verb = "Would purge" if dry_run else "Purged"
    for i in removed:
        typer.echo(f"{verb} {i.id} from {i.queue} (reason: {i.reason})")
    typer.echo(f"{verb} {len(removed)}.")
    if message_id is not None and not removed:
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
