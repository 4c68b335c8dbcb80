"""A flood of signed webhooks through ingress → router → normalizer on a 3-node RabbitMQ cluster.

The cluster is this module's own (``rabbit_cluster.py``: three ``rabbitmq-server`` processes, joined
with ``rabbitmqctl join_cluster``, removed afterwards); the services get its three URLs in
``OMNI_RABBITMQ_URL`` and nothing else. While the webhooks flow:

1. the node every service is connected to, which also leads every quorum queue (they were declared
   there), is killed with ``kill -9`` and restarted later;
2. the node that then leads the raw-webhook queue is stopped cleanly (``rabbitmqctl shutdown``);
3. after the flood, two of the three nodes are down at once: no quorum, so the ingress must not
   answer 200 (a publisher confirm from a quorum queue needs a majority of its members).

The services are never restarted: they reconnect to another node on their own. Every webhook not
answered 200 is posted again afterwards (as Meta retries); then every webhook must be stored exactly
once, in its own tenant, and no dead letter may exist.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import aio_pika
import pytest
from chaos_fleet import Fleet, fleet_env
from chaos_load import Hook, LoadRun, Tenant, audit, landed_count, make_hooks, send
from chaos_report import report
from chaos_stack import drop_databases, profile_stub
from chaos_tenants import provision_tenants
from pipeline import wait_until
from rabbit_cluster import RabbitCluster, available, rabbit_cluster
from sandbox_server import serve
from testenv import APP_SECRET

from omni_common.broker.dlq import list_dead_letters
from omni_common.broker.topology import Topology, build_topology
from omni_common.contracts.routing import RAW_WEBHOOKS, ROUTED_EVENTS

pytestmark = [
    pytest.mark.integration,
    pytest.mark.chaos,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not available(), reason="rabbitmq-server is not installed here"),
]

TENANTS = 6
MAX_HOOKS = 20_000  # the flood runs until both faults are over; this only bounds it
BATCH = 50
RETRY_DELAYS_MS = (500, 1000, 2000, 4000, 8000)
DELIVERY_LIMIT = 20
CONNECTIONS = {
    "ingress-webhooks",
    "tenant-router",
    "tenant-router:publish",
    "normalizer",
    "normalizer:publish",
}


@dataclass
class ClusterStack:
    cluster: RabbitCluster
    vhost: str
    pg_url: str
    tenants: list[Tenant]
    fleet: Fleet
    topology: Topology

    @property
    def ingress(self) -> str:
        return f"http://127.0.0.1:{self.fleet.procs['ingress-webhooks'].port}"


class Flood:
    """Signed webhooks, paced, in a thread of their own until ``stop()``: the faults set its length."""

    def __init__(self, url: str, hooks: list[Hook]) -> None:
        self._url = url
        self._hooks = hooks
        self.run = LoadRun([])
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        async def go() -> None:
            for at in range(0, len(self._hooks), BATCH):
                if self._stop.is_set():
                    return
                batch = self._hooks[at : at + BATCH]
                self.run.hooks.extend(batch)
                # One shared answer book: the test reads it while the flood goes on.
                part = LoadRun(batch, answers=self.run.answers, sent_at=self.run.sent_at)
                await send(self._url, part, APP_SECRET, concurrency=6, pace_s=0.05)

        self.run.started = time.monotonic()
        try:
            asyncio.run(go())
        except BaseException as exc:  # surfaced by stop()
            self._error = exc
        self.run.finished = time.monotonic()

    def start(self) -> Flood:
        self._thread.start()
        return self

    def ok(self) -> int:
        return sum(1 for s in list(self.run.answers.values()) if s == 200)

    def stop(self) -> LoadRun:
        self._stop.set()
        self._thread.join(120)
        assert not self._thread.is_alive(), "the flood did not stop"
        if self._error is not None:
            raise self._error
        assert len(self.run.hooks) < len(self._hooks), "the flood ran out before the faults ended"
        return self.run


@pytest.fixture(scope="module")
def stack(services: Any, namespace: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterStack]:
    tmp = tmp_path_factory.mktemp("chaos-cluster")
    catalog = f"omnichaos_cl{secrets.token_hex(4)}"
    pg_url = f"{services.pg_admin_url.rsplit('/', 1)[0]}/{catalog}"
    with contextlib.ExitStack() as exits:
        exits.callback(drop_databases, services.pg_admin_url, catalog)
        cluster = exits.enter_context(rabbit_cluster(tmp / "rabbitmq"))
        vhost = f"{namespace}_{catalog}"
        cluster.add_vhost(vhost)
        graph = exits.enter_context(serve(profile_stub())) + "/v21.0"
        keys = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        tenants = asyncio.run(provision_tenants(pg_url, [keys], TENANTS, prefix="cl"))
        (tmp / "media").mkdir()
        fleet = Fleet(
            fleet_env(
                database_url=pg_url,
                rabbitmq_url=cluster.amqp_urls(vhost),
                encryption_keys=keys,
                app_secret=APP_SECRET,
                media_dir=tmp / "media",
                graph_api_url=graph,
                OMNI_RABBITMQ_MANAGEMENT_URL=",".join(n.mgmt_url for n in cluster.nodes),
                OMNI_RETRY_DELAYS_MS=",".join(map(str, RETRY_DELAYS_MS)),
                OMNI_DELIVERY_LIMIT=str(DELIVERY_LIMIT),
                OMNI_PREFETCH="100",
                OMNI_TENANT_ENGINE_CACHE="8",
            ),
            tmp,
        )
        exits.callback(fleet.stop_all)
        for service in ("ingress-webhooks", "tenant-router", "normalizer"):
            fleet.add(service)
        fleet.start_all()
        yield ClusterStack(
            cluster,
            vhost,
            pg_url,
            tenants,
            fleet,
            build_topology(retry_delays_ms=list(RETRY_DELAYS_MS), delivery_limit=DELIVERY_LIMIT),
        )
    # The cluster leaves nothing behind: its processes are gone, its directory too.
    assert not any(node.alive() for node in cluster.nodes)
    assert not (tmp / "rabbitmq").exists()


def _service_connections(stack: ClusterStack) -> dict[str, str]:
    """connection name -> node, for the services' connections (any live node's management API)."""
    for node in (n for n in stack.cluster.nodes if n.alive()):
        try:
            rows = stack.cluster.connections(node)
        except Exception as exc:  # a node on its way down: ask the next one
            print(f"{node.name}: {exc!r}")
            continue
        return {
            str(r.get("client_properties", {}).get("connection_name")): str(r["node"])
            for r in rows
            if r.get("client_properties", {}).get("connection_name") in CONNECTIONS
        }
    return {}


def _every_service_listed(stack: ClusterStack) -> dict[str, str]:
    """The services' connections once all are listed (empty until then)."""
    conns = _service_connections(stack)
    return conns if set(conns) == CONNECTIONS else {}


def _reconnected(stack: ClusterStack, away_from: str) -> dict[str, str]:
    """Every service connection open on a node other than ``away_from`` (empty until then)."""
    conns = _service_connections(stack)
    ok = set(conns) == CONNECTIONS and away_from not in conns.values()
    return conns if ok else {}


def _members(stack: ClusterStack, queue: str) -> tuple[str, set[str], set[str]]:
    info = stack.cluster.queue(stack.vhost, queue)
    return str(info.get("leader")), set(info.get("members", [])), set(info.get("online", []))


def _ok_after(run: LoadRun, count: int) -> int:
    return sum(1 for s in run.answers.values() if s == 200) - count


def _resend_until_200(stack: ClusterStack, run: LoadRun, timeout: float = 90) -> int:
    """Post every webhook not answered 200 again until it is (Meta's retries); returns the retries."""
    retries = 0
    deadline = time.monotonic() + timeout
    while pending := run.not_ok():
        assert time.monotonic() < deadline, f"{len(pending)} webhooks still refused: {run.statuses()}"
        again = LoadRun(pending)
        asyncio.run(send(stack.ingress, again, APP_SECRET, concurrency=8))
        retries += len(pending)
        run.answers.update(again.answers)
        if again.not_ok():
            time.sleep(0.5)
    return retries


def _dead_letters(stack: ClusterStack) -> list[Any]:
    async def go() -> list[Any]:
        async with asyncio.timeout(60):
            connection = await aio_pika.connect(stack.cluster.amqp_url(stack.cluster.nodes[0], stack.vhost))
            async with connection:
                return await list_dead_letters(connection, stack.topology)

    return asyncio.run(go())


def test_flood_through_a_killed_node_a_stopped_leader_and_a_lost_quorum(stack: ClusterStack) -> None:
    cluster, fleet = stack.cluster, stack.fleet
    raw, routed = stack.topology.queue_name(RAW_WEBHOOKS), stack.topology.queue_name(ROUTED_EVENTS)
    all_nodes = {n.name for n in cluster.nodes}
    # Declared on a 3-node cluster, every quorum queue has 3 members: a confirm means 2 of them hold it.
    first = cluster.nodes[0]
    for name in (raw, routed):
        leader, members, _online = _members(stack, name)
        assert members == all_nodes, (name, members)
        assert leader == first.name, "declared through the first URL, led there"
    # The management API lists new connections after its stats interval (seconds): wait for all.
    started = wait_until(
        lambda: _every_service_listed(stack),
        timeout=30,
        interval=0.5,
        what="every service's connection listed",
    )
    assert set(started.values()) == {first.name}, "services start on the first URL"

    tag = f"cl{secrets.token_hex(3)}"
    started = time.monotonic()
    marks: dict[str, float] = {}

    def mark(what: str) -> None:
        marks[what] = round(time.monotonic() - started, 1)

    flood = Flood(stack.ingress, make_hooks(stack.tenants, MAX_HOOKS, tag)).start()
    run = flood.run
    wait_until(lambda: flood.ok() >= 200, timeout=60, what="200 webhooks answered 200 before the first fault")

    # 1. kill -9 the node holding every connection and every queue leader; the services move on.
    ok_before = flood.ok()
    killed_at = time.monotonic()
    mark(f"kill9_after_{run.answered}")
    cluster.kill9(first)
    moved = wait_until(
        lambda: _reconnected(stack, first.name), timeout=60, interval=0.5, what="services on another node"
    )
    reconnect_s = time.monotonic() - killed_at
    mark("services_moved")
    wait_until(lambda: flood.ok() >= ok_before + 100, timeout=60, what="100 more 200s without node 1")
    new_leader, _, online = _members(stack, raw)
    assert new_leader != first.name
    assert first.name not in online
    mark("restart_1")
    cluster.restart(first)
    cluster.wait_running(3)
    mark(f"node_1_back_after_{run.answered}")

    # 2. stop (cleanly) the node that now leads the raw-webhook queue.
    leader, _, _ = _members(stack, raw)
    stopped = cluster.node_named(leader)
    ok_before = flood.ok()
    mark("stop_leader")
    cluster.stop(stopped)
    mark("stopped")
    wait_until(lambda: flood.ok() >= ok_before + 100, timeout=60, what="100 more 200s without the leader")
    after_stop, _, _ = _members(stack, raw)
    assert after_stop != stopped.name
    cluster.restart(stopped)
    cluster.wait_running(3)
    mark(f"leader_node_back_after_{run.answered}")
    wait_until(lambda: flood.ok() >= ok_before + 200, timeout=60, what="100 more 200s with three nodes")
    run = flood.stop()
    mark("flood_done")
    flood_s = time.monotonic() - started
    first_answers = run.statuses()

    # 3. two nodes down: no quorum, so no 200. The ingress is first on the survivor (else its 503
    # would only say it lost its node), then its publishes get no confirm.
    conns = wait_until(
        lambda: _reconnected(stack, away_from="-"),
        timeout=60,
        interval=0.5,
        what="every service connected",
    )
    survivor = cluster.node_named(conns["ingress-webhooks"])
    downs = [n for n in cluster.nodes if n is not survivor]
    with ThreadPoolExecutor(len(downs)) as pool:
        list(pool.map(cluster.stop, downs))
    wait_until(
        lambda: _service_connections(stack).get("ingress-webhooks") == survivor.name,
        timeout=60,
        interval=0.5,
        what="the ingress on the surviving node",
    )
    probes = LoadRun(make_hooks(stack.tenants, 12, f"{tag}q"))
    asyncio.run(send(stack.ingress, probes, APP_SECRET, concurrency=12))
    assert 200 not in probes.answers.values(), f"answered 200 without a quorum: {probes.statuses()}"
    no_quorum_answers = probes.statuses()
    mark("no_quorum_probed")
    for node in downs:
        cluster.launch(node)  # together: each waits for its peers while it boots
    for node in downs:
        cluster.wait_booted(node)
    cluster.wait_running(3)
    mark("quorum_back")

    # Meta posts again whatever was not answered 200; then everything is stored exactly once.
    retried = _resend_until_200(stack, run) + _resend_until_200(stack, probes)
    for r, t in ((run, tag), (probes, f"{tag}q")):
        wait_until(
            lambda r=r, t=t: landed_count(stack.pg_url, stack.tenants, t) >= len(r.hooks),
            timeout=240,
            interval=0.5,
            what=f"all {len(r.hooks)} webhooks of {t} stored",
        )
    mark("all_stored")
    results = [audit(stack.pg_url, stack.tenants, r, t) for r, t in ((run, tag), (probes, f"{tag}q"))]
    for result in results:
        assert not result.lost, f"{len(result.lost)} answered 200 but missing: {result.lost[:5]}"
        assert not result.duplicated, f"{len(result.duplicated)} stored twice: {result.duplicated[:5]}"
        assert not result.misplaced, f"{len(result.misplaced)} in a wrong tenant: {result.misplaced[:5]}"
        assert not result.unexpected, f"rows nobody sent: {result.unexpected[:5]}"
    letters = _dead_letters(stack)
    assert not letters, [(d.queue, d.reason) for d in letters[:5]]
    # Nobody restarted the services: they reconnected by themselves each time.
    assert not fleet.dead(), f"processes died: {fleet.dead()}\n{fleet.tail()}"
    assert all(p.starts == 1 for p in fleet.procs.values())
    # Every member back online (the management API reports it a few seconds after the nodes run).
    for name in (raw, routed):
        wait_until(
            lambda name=name: _members(stack, name)[1:] == (all_nodes, all_nodes),
            timeout=60,
            interval=0.5,
            what=f"all three members of {name} online",
        )
    report(
        "rabbitmq_cluster",
        sent=len(run.hooks),
        first_answers=first_answers,
        kill9=first.name,
        services_reconnected_s=round(reconnect_s, 1),
        moved_to=sorted(set(moved.values())),
        leader_stopped=stopped.name,
        no_quorum_probe_answers=no_quorum_answers,
        resent_until_200=retried,
        lost=0,
        duplicated=0,
        misplaced=0,
        dead_lettered=0,
        flood_s=round(flood_s, 1),
        seconds=round(time.monotonic() - started, 1),
        marks=marks,
    )
