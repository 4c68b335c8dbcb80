"""``omni``: operate Resevit Inbox (migrations, tenants, users, accounts, services, dead letters)."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


def _register() -> None:
    # Each command group lives in its own module; imported here so `omni --help` lists them all.
    from omni_cli.commands import registry

    registry.register(app)


_register()
