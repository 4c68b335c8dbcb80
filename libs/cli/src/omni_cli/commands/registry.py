"""Attach every command module to the root ``omni`` app."""

from __future__ import annotations

import importlib

import typer

# (module, attribute): each module exposes ``register(app: typer.Typer) -> None``.
MODULES = (
    "omni_cli.commands.tenancy",
    "omni_cli.commands.db_servers",
    "omni_cli.commands.users",
    "omni_cli.commands.accounts",
    "omni_cli.commands.demo",
    "omni_cli.commands.dlq",
    "omni_cli.commands.broker",
    "omni_cli.commands.services",
    "omni_cli.commands.status",
    "omni_cli.commands.ai",
)


def register(app: typer.Typer) -> None:
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # module not written yet
                continue
            raise
        module.register(app)
