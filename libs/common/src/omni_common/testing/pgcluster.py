"""A private PostgreSQL cluster for a test or a benchmark run: its own port, data directory, settings.

The machine's shared server keeps ``max_connections = 100`` for everything that runs on it. Tests and
benchmarks that need other settings (a small ``max_connections`` to fill, a second database server,
``wal_level = logical``) start such a server beside it (same binaries, default settings except those
given), without restarting or reconfiguring the shared one. Stopped and deleted at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _bindir() -> Path:
    """Directory of the newest installed server binaries (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb) on this machine")
    return Path(initdb).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def private_cluster(max_connections: int = 100, **settings: str | int) -> Iterator[str]:
    """Start a throw-away cluster; yields its admin URL (trust auth on 127.0.0.1).

    ``settings`` are extra server settings (``wal_level="logical"``), passed as ``-c name=value``.
    """
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="omnibench-pg-"))
    # The server refuses to run as root: run it as the postgres user where we are root.
    as_pg: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    started = False
    try:
        subprocess.run(
            [*as_pg, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        options = (
            f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root}"
            f" -c max_connections={max_connections}"
        ) + "".join(f" -c {name}={value}" for name, value in settings.items())
        subprocess.run(
            [
                *as_pg,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "server.log"),
                "-w",
                "-o",
                options,
                "start",
            ],
            check=True,
            capture_output=True,
        )
        started = True
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run(
                [*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                check=False,
                capture_output=True,
            )
        shutil.rmtree(root, ignore_errors=True)
