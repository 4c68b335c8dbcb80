"""One benchmark run: environment, baselines, ingress alone, the pipeline under load, report, cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata as md
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import orjson
import psutil
import psycopg

from bench import baselines, procs, profile, queues, readback, report, stats
from bench import env as benv
from bench.baseline_app import BASELINE_QUEUE
from bench.config import APP_SECRET, MGMT_AUTH, BenchConfig
from bench.env import BenchEnv
from bench.mix import TenantPlan

REPO = Path(__file__).resolve().parent.parent
# Expected status events per delivery: 0.7 single + 0.1 batches x 3.5 entries x ~0.7 statuses.
STATUS_EVENTS_PER_DELIVERY = 0.95


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _child_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO)}


def machine_info(env: BenchEnv) -> dict[str, Any]:
    with psycopg.connect(env.conninfo()) as conn:
        row = conn.execute("SELECT version()").fetchone()
    with benv.mgmt_client() as api:
        overview = api.get("/api/overview").json()
    pkgs = (
        "aio-pika",
        "aiormq",
        "fastapi",
        "starlette",
        "uvicorn",
        "uvloop",
        "sqlalchemy",
        "psycopg",
        "orjson",
    )
    return {
        "nproc": os.cpu_count(),
        "mem_gib": psutil.virtual_memory().total / 2**30,
        "cpu": platform.processor() or platform.machine(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": (row[0].split(" on ")[0] if row else "?"),
        "rabbitmq": overview.get("rabbitmq_version"),
        "erlang": overview.get("erlang_version"),
        "packages": {p: md.version(p) for p in pkgs},
    }


def load(
    cfg: BenchConfig, plans: list[TenantPlan], ports: list[int], *, duration: float, tag: str, rate: float
) -> dict[str, Any]:
    """Run the load generator in its own process and return its raw result (``rate`` 0: closed loop)."""
    workdir = cfg.out / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    plan = {
        "tenants": [asdict(p) for p in plans],
        "secret": APP_SECRET,
        "seed": cfg.seed,
        "run_tag": tag,
        "ports": ports,
        "concurrency": cfg.concurrency,
        "rate": rate,
        "duration": duration,
        "max_deliveries": cfg.delivery_cap,
    }
    plan_path, result_path = workdir / f"plan-{tag}.json", workdir / f"load-{tag}.json"
    plan_path.write_bytes(orjson.dumps(plan))
    subprocess.run(
        [sys.executable, "-m", "bench.loadgen", str(plan_path), str(result_path)],
        env={**os.environ, **_child_env()},
        cwd=REPO,
        check=True,
        timeout=duration + 120,
    )
    result = orjson.loads(result_path.read_bytes())
    result_path.unlink()
    return result


@contextlib.contextmanager
def baseline_servers(
    cfg: BenchConfig, env: BenchEnv, mode: str
) -> Iterator[tuple[list[procs.Proc], list[int]]]:
    """``cfg.ingress_procs`` baseline apps (``bench/baseline_app.py``) in ``mode``, ready; stopped after."""
    ports = [procs.free_port() for _ in range(cfg.ingress_procs)]
    group = [
        procs.start(
            f"baseline-{mode}",
            [sys.executable, "-m", "bench.baseline_app", str(p), mode, env.settings.rabbitmq_url],
            _child_env(),
            cfg.out / "logs",
        )
        for p in ports
    ]
    try:
        for p in ports:
            procs.wait_http(p)
        yield group, ports
    finally:
        procs.stop(group)


def _baseline_http(cfg: BenchConfig, env: BenchEnv, plans: list[TenantPlan], mode: str) -> dict[str, Any]:
    try:
        with baseline_servers(cfg, env, mode) as (_, ports):
            return stats.http_phase(
                load(cfg, plans, ports, duration=cfg.baseline_duration, tag=f"b{mode}", rate=0)
            )
    finally:
        if mode == "confirm":
            benv.purge_queue(env, BASELINE_QUEUE)


def run_baselines(cfg: BenchConfig, env: BenchEnv, plans: list[TenantPlan]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    log("baseline: raw PostgreSQL batched insert")
    out["raw_insert"] = asyncio.run(
        baselines.raw_insert(env.conninfo(), seconds=min(5.0, cfg.baseline_duration))
    )
    log("baseline: raw aio-pika publish, pipelined confirms")
    count = 2_000 if cfg.baseline_duration < 5 else 30_000
    out["raw_publish"] = asyncio.run(baselines.raw_publish(env.settings.rabbitmq_url, count=count))
    for mode in ("hmac", "confirm"):
        log(f"baseline: FastAPI {mode}")
        out[mode] = _baseline_http(cfg, env, plans, mode)
    return out


async def _wait_consumers(amqp_url: str, want: dict[str, int], timeout: float = 60.0) -> None:
    import aio_pika

    deadline = time.monotonic() + timeout
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        while time.monotonic() < deadline:
            counts = {}
            for name in want:
                q = await channel.declare_queue(name, passive=True)
                counts[name] = int(q.declaration_result.consumer_count or 0)
            if all(counts[n] >= want[n] for n in want):
                return
            await asyncio.sleep(0.3)
    finally:
        await connection.close()
    raise RuntimeError(f"consumers did not attach within {timeout}s")


def _profile(cfg: BenchConfig, workers: list[procs.Proc]) -> dict[str, list[tuple[str, float]]]:
    seconds = max(5, int(cfg.duration * 0.5))
    firsts: dict[str, procs.Proc] = {}
    for p in workers:
        firsts.setdefault(p.group, p)
    recs = {
        g: (profile.record(p.popen.pid, seconds, cfg.out / f"pyspy-{g}.txt"), cfg.out / f"pyspy-{g}.txt")
        for g, p in firsts.items()
    }
    out = {}
    for g, (rec, path) in recs.items():
        rec.wait(timeout=seconds + 60)
        out[g] = profile.top_frames(path)
    return out


def check_connection_budget(cfg: BenchConfig) -> None:
    """Warn when the normalizers could exhaust the shared server's max_connections (the defaults can)."""
    from omni_common.db.budget import default_connections
    from omni_common.settings import Settings

    s = Settings(
        _env_file=None, **{k[5:].lower(): v for k, v in cfg.service_env.items() if k.startswith("OMNI_")}
    )
    budget = cfg.normalizer_procs * (s.db_connections_per_server or default_connections("normalizer"))
    budget += (cfg.normalizer_procs + cfg.router_procs) * 6 + 10  # catalog pools, listener, harness
    with psycopg.connect(cfg.pg_admin_url) as conn:
        limit = int(conn.execute("SHOW max_connections").fetchone()[0])
        used = int(conn.execute("SELECT count(*) FROM pg_stat_activity").fetchone()[0])
    if budget > limit - used - 10:
        log(
            f"WARNING: the services may open {budget} PostgreSQL connections but the shared server has only"
            f" {limit - used} free of {limit}: lower OMNI_DB_CONNECTIONS_PER_SERVER or the normalizer count"
            " (other work on this server will see 'too many clients')"
        )


def run(cfg: BenchConfig, command: str) -> dict[str, Any]:
    check_connection_budget(cfg)
    env = benv.new_env(cfg.pg_admin_url, cfg.extra_servers)
    cfg.out.mkdir(parents=True, exist_ok=True)
    services: list[procs.Proc] = []
    log(f"environment {env.name}: catalog database and vhost of that name")
    try:
        benv.create_vhost(env)
        pool = int(cfg.delivery_cap * STATUS_EVENTS_PER_DELIVERY * 1.25 / cfg.tenants) + 20
        log(f"provisioning {cfg.tenants} tenants ({pool} outbound messages each)")
        t = time.monotonic()
        asyncio.run(benv.provision_tenants(env, cfg.tenants, pool))
        log(f"provisioned in {time.monotonic() - t:.0f} s")
        plans = [TenantPlan(t.index, t.accounts, t.waba_id, t.outbound_pool) for t in env.tenants]
        results: dict[str, Any] = {
            "name": env.name,
            "command": command,
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
            "machine": machine_info(env),
        }
        if cfg.baselines:
            results["baselines"] = run_baselines(cfg, env, plans)
        svc_env = {**env.service_env(), **cfg.service_env}
        if "OMNI_GRAPH_API_URL" not in cfg.service_env:
            # Profile lookups of new senders answer at once, as Meta's would (bench/graphstub.py).
            graph_port = procs.free_port()
            stub = procs.start(
                "graph-stub",
                [sys.executable, "-m", "bench.graphstub", str(graph_port)],
                _child_env(),
                cfg.out / "logs",
            )
            services.append(stub)  # listed for the clean-up if the wait fails
            procs.wait_http(graph_port)
            services.remove(stub)  # re-listed after the ingress processes: --profile takes the first ones
            svc_env["OMNI_GRAPH_API_URL"] = f"http://127.0.0.1:{graph_port}/v21.0"
        ports = [procs.free_port() for _ in range(cfg.ingress_procs)]
        health_ports = [procs.free_port() for _ in ports]
        services += [
            procs.start_service("ingress-webhooks", svc_env, cfg.out / "logs", port=p, health_port=h)
            for p, h in zip(ports, health_ports, strict=True)
        ]
        if "OMNI_GRAPH_API_URL" not in cfg.service_env:
            services.append(stub)
        for h in health_ports:
            procs.wait_http(h)
        if cfg.ingress_only:
            log("product ingress alone (router and normalizer not running)")
            results["ingress_only"] = stats.http_phase(
                load(cfg, plans, ports, duration=cfg.baseline_duration, tag="ingress", rate=0)
            )
            benv.purge_queue(env, "ingress.raw")
        workers = [
            procs.start_service("tenant-router", svc_env, cfg.out / "logs") for _ in range(cfg.router_procs)
        ]
        workers += [
            procs.start_service("normalizer", svc_env, cfg.out / "logs") for _ in range(cfg.normalizer_procs)
        ]
        services += workers
        asyncio.run(
            _wait_consumers(
                env.settings.rabbitmq_url,
                {"ingress.raw": cfg.router_procs, "normalizer.events": cfg.normalizer_procs},
            )
        )
        if cfg.warmup_per_tenant:
            results["warmup"] = warmup_phase(cfg, env, plans, ports)
        results["pipeline"] = pipeline_phase(cfg, env, plans, ports, services, workers)
        report.write(results, cfg.out)
        log(f"report: {cfg.out / 'report.md'}")
        return results
    finally:
        procs.stop(services)
        with contextlib.suppress(Exception):
            benv.teardown(env)
        log(f"removed {env.name} (vhost and databases)")


def warmup_phase(
    cfg: BenchConfig, env: BenchEnv, plans: list[TenantPlan], ports: list[int]
) -> dict[str, Any]:
    """Send a few deliveries per tenant, drain, then undo their rows: the measured phase then starts
    with every tenant seen once, as in a long-running deployment (engines built, connections open,
    contacts and chats there). Not measured; its figures are only reported."""
    count = cfg.warmup_per_tenant * cfg.tenants
    log(f"warm-up: {count} deliveries ({cfg.warmup_per_tenant} per tenant on average), not measured")
    t = time.monotonic()
    warm_cfg = replace(cfg, max_deliveries=count)
    result = load(warm_cfg, plans, ports, duration=max(cfg.duration, 60.0), tag="warm", rate=0)
    waited = asyncio.run(queues.wait_drained(env.settings.rabbitmq_url, cfg.drain_timeout, env.vhost))
    asyncio.run(readback.reset(env))
    seconds = time.monotonic() - t
    log(f"warm-up done in {seconds:.0f} s (rows reset)")
    return {"deliveries": result["deliveries"], "seconds": seconds, "drain_wait_s": waited}


def pipeline_phase(
    cfg: BenchConfig,
    env: BenchEnv,
    plans: list[TenantPlan],
    ports: list[int],
    services: list[procs.Proc],
    workers: list[procs.Proc],
) -> dict[str, Any]:
    log(f"pipeline: {cfg.duration:.0f} s of load, {cfg.tenants} tenants")
    split = procs.postmasters(benv.server_names(env)) if env.extra_servers else {}
    sampler = procs.Sampler(services, pg_servers=split)
    qsampler = queues.QueueSampler(env.vhost)
    conns = readback.ConnectionSampler(env)
    sampler.start()
    qsampler.start()
    conns.start()
    profiles: dict[str, list[tuple[str, float]]] = {}
    try:
        if cfg.profile:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(1) as pool:
                future = pool.submit(_profile, cfg, workers + services[: cfg.ingress_procs])
                result = load(cfg, plans, ports, duration=cfg.duration, tag="pipe", rate=cfg.rate)
                profiles = future.result()
        else:
            result = load(cfg, plans, ports, duration=cfg.duration, tag="pipe", rate=cfg.rate)
        log("load done; waiting for the queues to drain")
        waited = asyncio.run(queues.wait_drained(env.settings.rabbitmq_url, cfg.drain_timeout, env.vhost))
    finally:
        sampler.stop()
        qsampler.stop()
        conns.stop()
    rows = asyncio.run(readback.committed(env))
    e2e = stats.end_to_end(result, rows)
    log(
        f"end to end: {e2e['events_per_s']:.0f} events/s, {e2e['events_missing']} missing,"
        f" drained after {waited:.0f} s"
    )
    return {
        "started_at": result["started_at"],
        "acks_per_second": result["acks_per_second"],
        "http": stats.http_phase(result),
        "e2e": e2e,
        "drain_wait_s": waited,
        "cpu_seconds": sampler.cpu_seconds(),
        "sampled_seconds": sampler.span,
        "machine_busy_cores": sampler.machine_busy_cores(),
        "peak_rss_mib": sampler.peak_rss,
        "cpu_timeline": sampler.timeline,
        "queue_depth": qsampler.samples,
        "pg_connections_peak": conns.peak,
        "pg_connections_peak_by_server": conns.peak_by_server,
        "pg_sessions_started_by_server": conns.sessions_by_server,
        "profiles": profiles,
        "mgmt_user": MGMT_AUTH[0],
    }
