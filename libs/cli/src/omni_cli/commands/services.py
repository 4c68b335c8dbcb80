"""``omni run SERVICE`` and ``omni dev``: run one service, or all of them as separate processes."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from types import FrameType

import typer

# service name -> Python package (each has main.main() and a __main__).
SERVICES: dict[str, str] = {
    "ingress-webhooks": "ingress_webhooks",
    "tenant-router": "tenant_router",
    "normalizer": "normalizer",
    "outbound-sender": "outbound_sender",
    "ai-suggester": "ai_suggester",
    "inbox-api": "inbox_api",
}

_STOP_GRACE_S = 15.0


def run(service: str = typer.Argument(..., help=f"One of: {', '.join(SERVICES)}")) -> None:
    """Run one service in the foreground."""
    package = SERVICES.get(service)
    if package is None:
        typer.echo(f"unknown service {service!r}; choose one of: {', '.join(SERVICES)}", err=True)
        raise typer.Exit(2)
    importlib.import_module(f"{package}.main").main()


def extra_processes() -> list[tuple[str, list[str]]]:
    """Processes besides the services that ``omni dev`` starts (the Meta sandbox in demo mode)."""
    if os.environ.get("OMNI_DEV_SANDBOX") == "1":
        return [("meta-sandbox", [sys.executable, "-m", "meta_sandbox"])]
    return []


def dev(
    only: list[str] = typer.Option(None, "--only", help="Run only these services (repeatable)."),
) -> None:
    """Run every service as its own process; Ctrl-C / SIGTERM stops them all."""
    names = only or list(SERVICES)
    unknown = [n for n in names if n not in SERVICES]
    if unknown:
        typer.echo(f"unknown service(s): {', '.join(unknown)}", err=True)
        raise typer.Exit(2)
    commands = extra_processes() + [(n, [sys.executable, "-m", SERVICES[n]]) for n in names]
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    for name, argv in commands:
        children[name] = subprocess.Popen(argv)  # noqa: S603 - our own interpreter and packages
        typer.echo(f"started {name} (pid {children[name].pid})", err=True)

    exit_code = 0
    while not stopping:
        for name, child in children.items():
            code = child.poll()
            if code is not None:
                typer.echo(f"{name} exited with {code}; stopping the others", err=True)
                exit_code = code or 1
                stopping = True
                break
        time.sleep(0.2)

    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + _STOP_GRACE_S
    for name, child in children.items():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            typer.echo(f"{name} did not stop in time; killing it", err=True)
            child.kill()
            child.wait()
    typer.echo("all services stopped", err=True)
    raise typer.Exit(exit_code)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("dev")(dev)
