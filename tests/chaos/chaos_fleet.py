"""The services as separate OS processes (``omni run SERVICE``): start, stop, kill -9, restart, readiness.

Each process logs to its own file (a full pipe would block it); ``tail()`` shows the end of every log
when a test fails. Readiness is polled on ``/readyz`` (ingress and workers: their health port; inbox: its HTTP
port), never assumed after a sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pipeline import wait_until
from sandbox_server import free_port

WORKERS = ("tenant-router", "normalizer", "outbound-sender")


@dataclass
class Proc:
    """One service process (``name`` may carry a replica suffix: ``normalizer#2``)."""

    name: str
    service: str
    port: int  # the ingress's or the inbox's HTTP port, or a worker's health port
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    # /healthz, /readyz, /metrics: the ingress serves them on a port of their own, never its public one.
    health_port: int = 0

    @property
    def probe_port(self) -> int:
        return self.health_port or self.port

    @property
    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.probe_port}/readyz"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.probe_port}/metrics"

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Fleet:
    """Processes sharing one environment (OMNI_* pointing at this test's catalog, vhost, proxies)."""

    env: dict[str, str]
    log_dir: Path
    procs: dict[str, Proc] = field(default_factory=dict)
    _extra: dict[str, dict[str, str]] = field(default_factory=dict)

    def add(self, service: str, name: str | None = None, **extra_env: str) -> Proc:
        name = name or service
        proc = Proc(name, service, free_port(), self.log_dir / f"{name.replace('#', '-')}.log")
        if service == "ingress-webhooks":
            proc.health_port = free_port()
        self.procs[name] = proc
        self._extra[name] = extra_env
        return proc

    def set_env(self, name: str, **extra_env: str) -> None:
        """Replace the process's own environment overrides; they apply from its next start."""
        self._extra[name] = extra_env

    def start(self, name: str, *, ready_timeout: float = 180) -> Proc:
        proc = self.procs[name]
        assert not proc.alive(), f"{name} is already running"
        env = {**self.env, **self._extra[name]}
        port_var = {"ingress-webhooks": "OMNI_INGRESS_PORT", "inbox-api": "OMNI_INBOX_PORT"}.get(
            proc.service, "OMNI_HEALTH_PORT"
        )
        env[port_var] = str(proc.port)
        if proc.health_port:
            env["OMNI_HEALTH_PORT"] = str(proc.health_port)
        omni = Path(sys.executable).with_name("omni")
        with proc.log.open("ab") as log:
            log.write(f"--- start #{proc.starts + 1}\n".encode())
            log.flush()
            proc.popen = subprocess.Popen(
                [str(omni), "run", proc.service],
                env=env,
                cwd=self.log_dir,  # no stray .env is read
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        proc.starts += 1
        self.wait_ready(name, timeout=ready_timeout)
        return proc

    def start_all(self) -> None:
        for name in self.procs:
            if not self.procs[name].alive():
                self.start(name)

    def ready(self, name: str) -> bool:
        proc = self.procs[name]
        if not proc.alive():
            return False
        try:
            return httpx.get(proc.ready_url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, name: str, *, timeout: float = 180) -> None:
        proc = self.procs[name]

        def check() -> bool:
            if proc.popen is not None and proc.popen.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.popen.returncode}:\n{self.tail(name)}")
            return self.ready(name)

        try:
            wait_until(check, timeout=timeout, interval=0.1, what=f"{name} /readyz")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.tail(name)}") from None

    def kill9(self, name: str) -> None:
        """SIGKILL: no graceful stop, nothing acked that was not acked already."""
        proc = self.procs[name]
        assert proc.popen is not None
        proc.popen.send_signal(signal.SIGKILL)
        proc.popen.wait(10)

    def stop(self, name: str, timeout: float = 30) -> int:
        proc = self.procs[name]
        if proc.popen is None or proc.popen.poll() is not None:
            return proc.popen.returncode if proc.popen else 0
        proc.popen.send_signal(signal.SIGTERM)
        try:
            return proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait(10)
            raise AssertionError(f"{name} did not stop within {timeout}s:\n{self.tail(name)}") from None

    def restart(self, name: str) -> None:
        self.stop(name)
        self.start(name)

    def stop_all(self) -> dict[str, int]:
        for proc in self.procs.values():
            if proc.alive():
                assert proc.popen is not None
                proc.popen.send_signal(signal.SIGTERM)
        codes = {}
        for name, proc in self.procs.items():
            if proc.popen is None:
                continue
            try:
                codes[name] = proc.popen.wait(30)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                codes[name] = proc.popen.wait(10)
        return codes

    def dead(self) -> list[str]:
        """Processes that were started and have exited on their own."""
        return [n for n, p in self.procs.items() if p.popen is not None and p.popen.poll() is not None]

    def tail(self, name: str | None = None, lines: int = 40) -> str:
        names = [name] if name else list(self.procs)
        out = []
        for n in names:
            path = self.procs[n].log
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
            out.append(f"===== {n} (last {len(text)} lines of {path})\n" + "\n".join(text))
        return "\n".join(out)


def fleet_env(
    *,
    database_url: str,
    rabbitmq_url: str,
    encryption_keys: str,
    app_secret: str,
    media_dir: Path,
    graph_api_url: str = "http://127.0.0.1:9/v21.0",
    **overrides: str,
) -> dict[str, str]:
    """Environment of the services: no ``.env`` is read (they run in a temporary directory)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI_")}
    env.update(
        OMNI_DATABASE_URL=database_url,
        OMNI_RABBITMQ_URL=rabbitmq_url,
        OMNI_ENCRYPTION_KEYS=encryption_keys,
        OMNI_META_APP_SECRETS=app_secret,
        OMNI_META_VERIFY_TOKEN="chaos-verify",
        OMNI_GRAPH_API_URL=graph_api_url,
        OMNI_MEDIA_STORAGE=str(media_dir),
        OMNI_MEDIA_HOSTS="127.0.0.1",
        OMNI_LOG_JSON="true",
        # guest on the broker and the postgres superuser: production refuses both (startup_checks.py,
        # db/privileges.py).
        OMNI_ENV="development",
        # Per-message INFO lines would cost more CPU than the services on a 2-core box.
        OMNI_LOG_LEVEL="WARNING",
    )
    env.update(overrides)
    return env
