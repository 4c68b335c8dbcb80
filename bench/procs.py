"""Service processes of the run and what they cost: CPU seconds and peak RSS per process tree."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.background import BackgroundLoop

OMNI = str(Path(sys.executable).with_name("omni"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    group: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.popen.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


def start(group: str, argv: list[str], env: dict[str, str], logdir: Path, *, port: int | None = None) -> Proc:
    logdir.mkdir(parents=True, exist_ok=True)
    log = logdir / f"{group}-{int(time.time() * 1000) % 10**7}.log"
    child_env = {**os.environ, **env}
    # Run from an empty directory so no .env of the work tree is read.
    cwd = tempfile.mkdtemp(prefix="omnibench-cwd-")
    with log.open("wb") as out:
        popen = subprocess.Popen(argv, env=child_env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    return Proc(group, popen, log, port)


def start_service(
    service: str,
    env: dict[str, str],
    logdir: Path,
    *,
    port: int | None = None,
    health_port: int | None = None,
) -> Proc:
    extra = {"OMNI_INGRESS_PORT": str(port)} if port else {}
    if health_port:  # /healthz, /readyz, /metrics (the ingress's public port serves only webhooks)
        extra["OMNI_HEALTH_PORT"] = str(health_port)
    return start(service, [OMNI, "run", service], {**env, **extra}, logdir, port=port)


def stop(procs: list[Proc], grace: float = 20.0) -> None:
    for p in procs:
        if p.popen.poll() is None:
            p.popen.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.popen.kill()
            p.popen.wait()


def wait_http(port: int, path: str = "/healthz", timeout: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port}{path} within {timeout}s")


def _named(names: tuple[str, ...]) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["name"]):
        if p.info["name"] in names:
            out.append(p)
    return out


def _cpu(procs: list[psutil.Process]) -> dict[int, float]:
    seen: dict[int, float] = {}
    for p in procs:
        try:
            t = p.cpu_times()
            seen[p.pid] = t.user + t.system
        except psutil.Error:
            pass
    return seen


@dataclass
class Sampler(BackgroundLoop):
    """Samples CPU and RSS of the service groups, RabbitMQ (beam.smp) and PostgreSQL every ``interval``."""

    procs: list[Proc]
    interval: float = 0.5
    # Postmaster pid -> database server name (``--servers``): PostgreSQL's CPU is then also split
    # per server, as groups ``postgresql@<name>`` beside the ``postgresql`` total.
    pg_servers: dict[int, str] = field(default_factory=dict)
    peak_rss: dict[str, float] = field(default_factory=dict)  # group -> MiB, largest single process
    cpu_start: dict[str, dict[int, float]] = field(default_factory=dict)
    cpu_last: dict[str, dict[int, float]] = field(default_factory=dict)
    timeline: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # t, group -> cores
    _machine_start: float = 0.0
    _machine_end: float = 0.0
    _t0: float = 0.0
    _t1: float = 0.0

    def _groups(self) -> dict[str, list[psutil.Process]]:
        groups: dict[str, list[psutil.Process]] = {}
        for p in self.procs:
            groups.setdefault(p.group, []).extend(p.tree())
        groups["rabbitmq"] = _named(("beam.smp", "erl_child_setup", "epmd"))
        groups["postgresql"] = _named(("postgres",))
        if self.pg_servers:
            # The total becomes the run's servers only (another cluster on the machine is not ours).
            mine: list[psutil.Process] = []
            for p in groups["postgresql"]:
                name = self.pg_servers.get(p.pid)
                if name is None:
                    with contextlib.suppress(psutil.Error):
                        name = self.pg_servers.get(p.ppid())
                if name is not None:
                    groups.setdefault(f"postgresql@{name}", []).append(p)
                    mine.append(p)
            groups["postgresql"] = mine
        return groups

    def _sample(self) -> dict[str, dict[int, float]]:
        out = {}
        for group, procs in self._groups().items():
            out[group] = _cpu(procs)
            if group not in ("rabbitmq",) and not group.startswith("postgresql"):
                for p in procs:
                    try:
                        rss = p.memory_info().rss / 2**20
                    except psutil.Error:
                        continue
                    self.peak_rss[group] = max(self.peak_rss.get(group, 0.0), rss)
        return out

    def _loop(self) -> None:
        prev, prev_t = self.cpu_start, self._t0
        while not self._stop.wait(self.interval):
            now = time.time()
            cur = self._sample()
            for group, pids in cur.items():
                last = self.cpu_last.setdefault(group, {})
                last.update(pids)
            cores = {
                g: sum(v - prev.get(g, {}).get(pid, v) for pid, v in pids.items()) / (now - prev_t)
                for g, pids in cur.items()
            }
            self.timeline.append((now, cores))
            prev, prev_t = cur, now

    def start(self) -> None:
        self._t0 = time.time()
        self._machine_start = sum(psutil.cpu_times()[:3])
        self.cpu_start = self._sample()
        super().start()

    def stop(self) -> None:
        super().stop()
        for group, pids in self._sample().items():
            self.cpu_last.setdefault(group, {}).update(pids)
        self._t1 = time.time()
        self._machine_end = sum(psutil.cpu_times()[:3])

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used per group between start and stop (processes seen at both ends or since)."""
        out = {}
        for group, last in self.cpu_last.items():
            first = self.cpu_start.get(group, {})
            out[group] = sum(v - first.get(pid, 0.0) for pid, v in last.items())
        return out

    def machine_busy_cores(self) -> float:
        span = self._t1 - self._t0
        return (self._machine_end - self._machine_start) / span if span > 0 else 0.0

    @property
    def span(self) -> float:
        return self._t1 - self._t0


def postmasters(admin_urls: dict[str, str]) -> dict[int, str]:
    """Each server's postmaster pid (the parent of a backend) -> its name."""
    import psycopg

    out: dict[int, str] = {}
    for name, url in admin_urls.items():
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            # While the backend lives: once the connection closes, its process may be gone.
            if row:
                out[psutil.Process(int(row[0])).ppid()] = name
    return out
