"""Helpers (no tests) for the tenant-shard tests: a vhost of their own, worker processes, consumer counts.

A sharded topology must not change the session vhost's routes, so each shard test declares it on a
vhost of its own; its workers are real ``omni run <service>`` processes, each with its own worker id
(its rendezvous scores) and JSON log file, so that one can be killed with -9.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from testenv import Services, management_put


@contextmanager
def private_vhost(services: Services, name: str) -> Iterator[str]:
    """The vhost ``name`` with every permission for the test's admin user; deleted afterwards."""
    api = httpx.Client(base_url=services.mgmt_url, auth=services.mgmt_auth, timeout=60)
    management_put(api, f"/api/vhosts/{quote(name, safe='')}")
    management_put(
        api,
        f"/api/permissions/{quote(name, safe='')}/{services.mgmt_auth[0]}",
        {"configure": ".*", "write": ".*", "read": ".*"},
    )
    try:
        yield name
    finally:
        api.delete(f"/api/vhosts/{quote(name, safe='')}")
        api.close()


def consumers(services: Services, vhost: str, queue: str) -> int:
    """The consumer count of a queue as the management API shows it (it lags by a second or so)."""
    with httpx.Client(base_url=services.mgmt_url, auth=services.mgmt_auth, timeout=10) as api:
        body = api.get(f"/api/queues/{quote(vhost, safe='')}/{quote(queue, safe='')}").json()
    return int(body.get("consumers") or 0)


class Replica:
    """One ``omni run <service>`` process with its own worker id and log file."""

    def __init__(self, service: str, worker_id: str, env: dict[str, str], logs: Path) -> None:
        self.worker_id = worker_id
        self.log_path = logs / f"{worker_id}.log"
        self._log = self.log_path.open("wb")
        omni = Path(sys.executable).with_name("omni")
        self.proc = subprocess.Popen(
            [str(omni), "run", service],
            env={**env, "OMNI_WORKER_ID": worker_id},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def started(self) -> bool:
        """Whether every consumer of this replica is up."""
        return b'"worker_started"' in self.log_path.read_bytes()

    def lines(self, event: str) -> list[dict[str, Any]]:
        """The JSON log lines of ``event`` so far."""
        self._log.flush()
        found = []
        needle = f'"{event}"'.encode()
        for raw in self.log_path.read_bytes().splitlines():
            if needle in raw:
                try:
                    line = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue  # a line cut short by kill -9
                if line.get("event") == event:
                    found.append(line)
        return found

    def kill(self) -> None:
        """kill -9: no drain, no goodbye to the broker (its connection simply drops)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
