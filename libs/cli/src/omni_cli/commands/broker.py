"""``omni broker setup``: declare the topology and give every service its own least-privilege user."""

from __future__ import annotations

import asyncio
import os

import typer

broker_app = typer.Typer(no_args_is_help=True, help="The broker's topology, users and permissions.")


def register(app: typer.Typer) -> None:
    """Attach the ``broker`` command group."""
    app.add_typer(broker_app, name="broker")


@broker_app.command("setup")
def setup(
    user_prefix: str = typer.Option("omni-", help="Users are named PREFIX + service (omni-normalizer)."),
    service: list[str] = typer.Option(
        None, "--service", help="Only this service's user (repeatable); default: every service's."
    ),
) -> None:
    """Declare the topology, then create or update each service's user and permissions (idempotent).

    Run as the broker's administrator: OMNI_RABBITMQ_URL carries the administrator's user and the
    vhost. Each service's password comes from OMNI_BROKER_PASSWORD_<SERVICE> (e.g.
    OMNI_BROKER_PASSWORD_TENANT_ROUTER); running it again with a new one rotates that password.
    """
    # Imported here so `omni --help` stays fast and settings are read only when a command runs.
    from omni_common.broker.permissions import SERVICES, password_variable, service_grants, user_name
    from omni_common.broker.topology import TopologyError, topology_for
    from omni_common.broker.users import BrokerSetupError, setup_broker
    from omni_common.logging import configure_logging
    from omni_common.settings import Settings

    settings = Settings()
    configure_logging(service="omni-cli", json=settings.log_json, level="WARNING")
    topology = topology_for(settings)
    grants = service_grants(topology)
    wanted = service or [s for s in SERVICES if grants[s].broker_user]
    unknown = [s for s in wanted if s not in grants]
    if unknown:
        typer.echo(f"unknown service(s): {', '.join(unknown)}; choose among {', '.join(SERVICES)}", err=True)
        raise typer.Exit(2)
    missing = [
        password_variable(s)
        for s in wanted
        if grants[s].broker_user and not os.environ.get(password_variable(s))
    ]
    if missing:
        typer.echo(f"error: set {', '.join(missing)} (each service's broker password) first", err=True)
        raise typer.Exit(1)
    passwords = {s: os.environ[password_variable(s)] for s in wanted if grants[s].broker_user}
    try:
        applied = asyncio.run(
            setup_broker(
                rabbitmq_url=settings.rabbitmq_url,
                management_url=settings.rabbitmq_management_url,
                topology=topology,
                passwords=passwords,
                user_prefix=user_prefix,
            )
        )
    except (TopologyError, BrokerSetupError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"Topology declared ({len(topology.queues)} queues).")
    for a in applied:
        typer.echo(f"User {a.user} ({a.service}) and its permissions are set.")
    for s in wanted:
        if not grants[s].broker_user:
            typer.echo(f"{s} never connects to the broker: no user {user_name(s, user_prefix)}.")
