"""A RabbitMQ cluster of its own on this machine: N ``rabbitmq-server`` nodes as local processes.

Each node gets its own node name (``omni<id>-<i>@localhost``), AMQP, distribution and management
ports, data, log and config directories and enabled-plugins file under one temporary directory, and
the cluster's own Erlang cookie (``$HOME/.erlang.cookie`` with ``HOME`` pointed at that directory:
the server and ``rabbitmqctl`` both read it there). Node 1 starts a cluster; the others join it the
way an operator would (``rabbitmqctl -n NODE stop_app; join_cluster; start_app``). ``close()`` kills
every process it started (by process group) and deletes the directory.

The machine's own broker (``rabbit@localhost`` on 5672, shared by everyone's tests) is never touched:
different node names, ports, directories and cookie, and ``/etc/rabbitmq/rabbitmq-env.conf`` is not
read (``RABBITMQ_CONF_ENV_FILE`` points at an empty file). Only ``epmd``, the host's port-name
directory, is shared, as Erlang intends: each node registers its own name there.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from sandbox_server import free_port

SBIN = Path("/usr/lib/rabbitmq/bin")  # Debian's real scripts; /usr/sbin's wrappers switch users
PLUGINS = ("rabbitmq_management", "rabbitmq_consistent_hash_exchange")
BOOT_TIMEOUT_S = 120.0


def _tool(name: str) -> str:
    """The RabbitMQ script ``name``, called directly (not through Debian's ``su rabbitmq`` wrapper)."""
    direct = SBIN / name
    if direct.exists():
        return str(direct)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed")
    return found


def available() -> bool:
    """True when this machine can run RabbitMQ nodes of its own."""
    try:
        _tool("rabbitmq-server")
        _tool("rabbitmqctl")
    except RuntimeError:
        return False
    return True


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Node:
    """One node: its name, ports and directory, and the process running it (if any)."""

    index: int
    name: str
    amqp_port: int
    dist_port: int
    mgmt_port: int
    home: Path  # this node's directory (config, data, logs)
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def mgmt_url(self) -> str:
        return f"http://127.0.0.1:{self.mgmt_port}"

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


class RabbitCluster:
    """N local nodes forming one cluster; every operation is bounded in time."""

    def __init__(self, root: Path, size: int = 3) -> None:
        self.root = root
        self.id = secrets.token_hex(3)
        self.cookie = "".join(secrets.choice(string.ascii_uppercase) for _ in range(32))
        self.nodes = [
            Node(i, f"omni{self.id}-{i}@localhost", free_port(), free_port(), free_port(), root / f"node{i}")
            for i in range(1, size + 1)
        ]
        root.mkdir(parents=True, exist_ok=True)
        cookie = root / ".erlang.cookie"
        cookie.write_text(self.cookie)
        cookie.chmod(0o400)  # Erlang refuses a cookie file others can read
        (root / "rabbitmq-env.conf").write_text("")
        for node in self.nodes:
            self._write_config(node)

    # -- configuration -------------------------------------------------------------------------

    def _write_config(self, node: Node) -> None:
        (node.home / "log").mkdir(parents=True, exist_ok=True)
        (node.home / "data").mkdir(exist_ok=True)
        (node.home / "enabled_plugins").write_text(f"[{','.join(PLUGINS)}].\n")
        (node.home / "rabbitmq.conf").write_text(
            "\n".join(
                [
                    f"listeners.tcp.1 = 127.0.0.1:{node.amqp_port}",
                    f"management.tcp.port = {node.mgmt_port}",
                    "management.tcp.ip = 127.0.0.1",
                    # Queue depths refresh every second (the default 5 s makes waits slow).
                    "collect_statistics_interval = 1000",
                    "log.console = false",
                    "log.file.level = warning",
                    "disk_free_limit.absolute = 50MB",
                    "",
                ]
            )
        )

    def env(self, node: Node) -> dict[str, str]:
        """The environment of ``node``'s server and of ``rabbitmqctl`` calls aimed at it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(self.root),  # .erlang.cookie
            RABBITMQ_CONF_ENV_FILE=str(self.root / "rabbitmq-env.conf"),
            RABBITMQ_NODENAME=node.name,
            RABBITMQ_NODE_PORT=str(node.amqp_port),
            RABBITMQ_DIST_PORT=str(node.dist_port),
            RABBITMQ_CONFIG_FILE=str(node.home / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(node.home / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(node.home / "enabled_plugins"),
            RABBITMQ_MNESIA_BASE=str(node.home / "data"),
            RABBITMQ_LOG_BASE=str(node.home / "log"),
            RABBITMQ_PID_FILE=str(node.home / "rabbitmq.pid"),
            # Distribution on loopback only, like the machine's own node.
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        )
        return env

    # -- processes -----------------------------------------------------------------------------

    def launch(self, node: Node) -> None:
        """Start ``node``'s server (not waiting for it): its own process group, so kill -9 reaches all."""
        assert not node.alive(), f"{node.name} is already running"
        log = (node.home / "log" / "server.out").open("ab")
        node.popen = subprocess.Popen(
            [_tool("rabbitmq-server")],
            env=self.env(node),
            cwd=node.home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        node.starts += 1

    def wait_booted(self, node: Node, timeout: float = BOOT_TIMEOUT_S) -> None:
        """Until the node serves AMQP and its management API (the last listeners a boot opens)."""
        deadline = time.monotonic() + timeout
        while not (_listening(node.amqp_port) and self._mgmt_ok(node)):
            if node.popen is not None and node.popen.poll() is not None:
                raise AssertionError(f"{node.name} exited with {node.popen.returncode}:\n{self.tail(node)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{node.name} did not boot within {timeout}s:\n{self.tail(node)}")
            time.sleep(0.25)

    def _mgmt_ok(self, node: Node) -> bool:
        try:
            return httpx.get(f"{node.mgmt_url}/api/overview", auth=("guest", "guest"), timeout=2).is_success
        except httpx.HTTPError:
            return False

    def ctl(self, node: Node, *args: str, timeout: float = 90) -> str:
        """``rabbitmqctl -n NODE ARGS`` with the cluster's cookie; its output, or an error with it."""
        done = subprocess.run(
            [_tool("rabbitmqctl"), "-n", node.name, *args],
            env=self.env(node),
            cwd=self.root,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        out = (done.stdout + done.stderr).decode(errors="replace")
        if done.returncode != 0:
            raise AssertionError(f"rabbitmqctl -n {node.name} {' '.join(args)} failed:\n{out}")
        return out

    def start(self) -> None:
        """Boot every node (in parallel), then join nodes 2..N to node 1."""
        for node in self.nodes:
            self.launch(node)
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(self.wait_booted, self.nodes))
        first = self.nodes[0]
        for node in self.nodes[1:]:
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", first.name)
            self.ctl(node, "start_app")
        self.wait_running(len(self.nodes))

    def running(self, via: Node | None = None) -> set[str]:
        """Names of the cluster's running nodes, as a live node's management API sees them."""
        candidates = [via] if via is not None else [n for n in self.nodes if n.alive()]
        for node in candidates:
            try:
                rows = httpx.get(
                    f"{node.mgmt_url}/api/nodes",
                    auth=("guest", "guest"),
                    params={"columns": "name,running"},
                    timeout=5,
                ).json()
                return {row["name"] for row in rows if row.get("running")}
            except (httpx.HTTPError, ValueError):
                continue
        return set()

    def wait_running(self, count: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while len(self.running()) != count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} running nodes expected, have {sorted(self.running())}")
            time.sleep(0.5)

    def kill9(self, node: Node) -> None:
        """SIGKILL to the node's whole process group: no shutdown, no goodbye to its peers."""
        assert node.popen is not None
        os.killpg(node.popen.pid, signal.SIGKILL)
        node.popen.wait(10)

    def stop(self, node: Node) -> None:
        """A clean stop (``rabbitmqctl shutdown``): leaders hand over, clients are told to go."""
        self.ctl(node, "shutdown")
        assert node.popen is not None
        node.popen.wait(60)

    def restart(self, node: Node) -> None:
        """Start a stopped node again on its data: it rejoins the cluster it belongs to."""
        self.launch(node)
        self.wait_booted(node)

    def close(self) -> None:
        for node in self.nodes:
            if node.popen is not None and node.popen.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(node.popen.pid, signal.SIGKILL)
                node.popen.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)

    # -- clients -------------------------------------------------------------------------------

    def add_vhost(self, vhost: str) -> None:
        name = quote(vhost, safe="")
        with httpx.Client(base_url=self.nodes[0].mgmt_url, auth=("guest", "guest"), timeout=30) as api:
            api.put(f"/api/vhosts/{name}").raise_for_status()
            api.put(
                f"/api/permissions/{name}/guest", json={"configure": ".*", "write": ".*", "read": ".*"}
            ).raise_for_status()

    def amqp_url(self, node: Node, vhost: str) -> str:
        return f"amqp://guest:guest@127.0.0.1:{node.amqp_port}/{quote(vhost, safe='')}"

    def amqp_urls(self, vhost: str) -> str:
        """Every node's URL, comma-separated: what ``OMNI_RABBITMQ_URL`` takes for a cluster."""
        return ",".join(self.amqp_url(node, vhost) for node in self.nodes)

    def queue(self, vhost: str, name: str) -> dict[str, Any]:
        """A queue as a live node's management API shows it (``leader``, ``members``, ``online``)."""
        last: Exception | None = None
        for node in (n for n in self.nodes if n.alive()):
            try:
                response = httpx.get(
                    f"{node.mgmt_url}/api/queues/{quote(vhost, safe='')}/{quote(name, safe='')}",
                    auth=("guest", "guest"),
                    timeout=5,
                )
                response.raise_for_status()
                return dict(response.json())
            except httpx.HTTPError as exc:
                last = exc
        raise AssertionError(f"no live node answered for queue {name!r}: {last!r}")

    def node_named(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def connections(self, node: Node) -> list[dict[str, Any]]:
        """Client connections on ``node`` (its management API; sampled, so a second or so late)."""
        response = httpx.get(
            f"{node.mgmt_url}/api/connections",
            auth=("guest", "guest"),
            params={"columns": "name,node,client_properties"},
            timeout=5,
        )
        response.raise_for_status()
        return list(response.json())

    def tail(self, node: Node, lines: int = 30) -> str:
        out = []
        for path in sorted((node.home / "log").glob("*")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"----- {path.name}\n" + "\n".join(text))
        return "\n".join(out)


@contextmanager
def rabbit_cluster(root: Path, size: int = 3) -> Iterator[RabbitCluster]:
    """A started cluster of ``size`` nodes under ``root``; everything is removed afterwards."""
    cluster = RabbitCluster(root, size)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()
