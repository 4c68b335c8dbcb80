"""``omni run SERVICE`` and ``omni dev``: run one service, or all of them as separate processes."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
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
    "account-monitor": "account_monitor",
}

_STOP_GRACE_S = 15.0
# Under `omni dev`, workers (and the ingress, whose public port serves only webhooks) serve
# /healthz, /readyz and /metrics on OMNI_DEV_HEALTH_BASE + offset.
WORKER_HEALTH_OFFSETS = {
    "ingress-webhooks": 0,
    "tenant-router": 1,
    "normalizer": 2,
    "outbound-sender": 3,
    "ai-suggester": 4,
    "account-monitor": 5,
}


def run(service: str = typer.Argument(..., help=f"One of: {', '.join(SERVICES)}")) -> None:
    """Run one service in the foreground."""
    package = SERVICES.get(service)
    if package is None:
        typer.echo(f"unknown service {service!r}; choose one of: {', '.join(SERVICES)}", err=True)
        raise typer.Exit(2)
    importlib.import_module(f"{package}.main").main()


SANDBOX_PORT = 8090


def sandbox_process(env: dict[str, str]) -> list[tuple[str, list[str]]]:
    """The Meta sandbox for demo mode (``OMNI_DEV_SANDBOX=1``), seeded with the demo accounts.

    The services talk to it only when ``OMNI_GRAPH_API_URL`` was not set explicitly.
    """
    if os.environ.get("OMNI_DEV_SANDBOX") != "1":
        return []
    from omni_cli.commands.demo import sandbox_seed
    from omni_common.settings import Settings

    settings = Settings()
    seed = Path(tempfile.mkdtemp(prefix="omni-sandbox-")) / "seed.json"
    seed.write_text(json.dumps(sandbox_seed()))
    secrets = settings.app_secret_list()
    env["META_SANDBOX_INGRESS_URL"] = f"http://127.0.0.1:{settings.ingress_port}"
    env["META_SANDBOX_APP_SECRET"] = secrets[0].decode() if secrets else ""
    env["META_SANDBOX_SEED"] = str(seed)
    if "OMNI_GRAPH_API_URL" not in os.environ:
        env["OMNI_GRAPH_API_URL"] = f"http://127.0.0.1:{SANDBOX_PORT}/v21.0"
        # "Continue with Facebook" opens the sandbox's login dialog; WhatsApp by Embedded Signup
        # (an unknown config id is one to the sandbox). `omni demo connect` walks both.
        env.setdefault("OMNI_META_OAUTH_DIALOG_URL", f"http://127.0.0.1:{SANDBOX_PORT}/v21.0/dialog/oauth")
        env.setdefault("OMNI_META_ES_CONFIG_ID", "demo-embedded-signup")
        # Its WhatsApp media URLs are its own: media is downloaded only from OMNI_MEDIA_HOSTS.
        env.setdefault("OMNI_MEDIA_HOSTS", ",".join([*settings.media_hosts, "127.0.0.1"]))
    # The sandbox's debug_token names this app id: the inbox's ownership proof compares with it.
    env.setdefault("OMNI_META_APP_ID", "sandbox-app")
    env.setdefault("META_SANDBOX_APP_ID", env["OMNI_META_APP_ID"])
    return [("meta-sandbox", [sys.executable, "-m", "meta_sandbox", "--port", str(SANDBOX_PORT)])]


def dev(
    only: list[str] = typer.Option(None, "--only", help="Run only these services (repeatable)."),
) -> None:
    """Run every service as its own process; Ctrl-C / SIGTERM stops them all."""
    names = only or list(SERVICES)
    unknown = [n for n in names if n not in SERVICES]
    if unknown:
        typer.echo(f"unknown service(s): {', '.join(unknown)}", err=True)
        raise typer.Exit(2)
    env = dict(os.environ)
    # `omni dev` is development (the only mode that may switch account checks off); OMNI_ENV wins.
    env.setdefault("OMNI_ENV", "development")
    commands = sandbox_process(env) + [(n, [sys.executable, "-m", SERVICES[n]]) for n in names]
    base = int(os.environ.get("OMNI_DEV_HEALTH_BASE", "9100"))
    health_ports = {n: base + WORKER_HEALTH_OFFSETS[n] for n in names if n in WORKER_HEALTH_OFFSETS}
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    for name, argv in commands:
        child_env = env
        if name in health_ports:
            child_env = {**env, "OMNI_HEALTH_PORT": str(health_ports[name])}
        children[name] = subprocess.Popen(argv, env=child_env)  # noqa: S603 - our own interpreter
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
