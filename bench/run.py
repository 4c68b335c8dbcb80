"""One benchmark run: environment, baselines, ingress alone, the pipeline under load, report, cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata as md
import os
import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import psutil
import psycopg

from bench import baselines, cpu, pipeline, procs, profile, queues, readback, report, splitprobe, stats
from bench import env as benv
from bench.baseline_app import BASELINE_QUEUE
from bench.config import MGMT_AUTH, BenchConfig
from bench.env import BenchEnv
from bench.mix import TenantPlan
from bench.pipeline import child_env, load, log

# Expected status events per delivery: 0.7 single + 0.1 batches x 3.5 entries x ~0.7 statuses.
STATUS_EVENTS_PER_DELIVERY = 0.95


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
            child_env(),
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
    # With --split auto, the largest candidate.
    normalizers = max(x.normalizer for x in (cfg.split, *cfg.probe_splits))
    routers = max(x.router for x in (cfg.split, *cfg.probe_splits))
    budget = normalizers * (s.db_connections_per_server or default_connections("normalizer"))
    budget += (normalizers + routers) * 6 + 10  # catalog pools, listener, harness
    with psycopg.connect(cfg.pg_admin_url) as conn:
        limit = int(conn.execute("SHOW max_connections").fetchone()[0])
        used = int(conn.execute("SELECT count(*) FROM pg_stat_activity").fetchone()[0])
    if budget > limit - used - 10:
        log(
            f"WARNING: the services may open {budget} PostgreSQL connections but the shared server has only"
            f" {limit - used} free of {limit}: lower OMNI_DB_CONNECTIONS_PER_SERVER or the normalizer count"
            " (other work on this server will see 'too many clients')"
        )


def _choose_split(
    cfg: BenchConfig, env: BenchEnv, plans: list[TenantPlan], svc_env: dict[str, str]
) -> tuple[BenchConfig, dict[str, Any]]:
    """The split to measure: as given, or (``--split auto``) the best of the probes."""
    if not cfg.probe_splits:
        return cfg, {"used": str(cfg.split), "chosen_by": "given", "probes": []}
    chosen, probes = splitprobe.choose_split(cfg, env, plans, svc_env, list(cfg.probe_splits))
    return cfg.with_split(chosen), {"used": str(chosen), "chosen_by": "probes", "probes": probes}


def run(cfg: BenchConfig, command: str) -> dict[str, Any]:
    check_connection_budget(cfg)
    env = benv.new_env(cfg.pg_admin_url, cfg.extra_servers)
    cfg.out.mkdir(parents=True, exist_ok=True)
    logdir = cfg.out / "logs"
    services: list[procs.Proc] = []  # the product's processes
    harness: list[procs.Proc] = []  # the Graph stub
    log(f"environment {env.name}: catalog database and vhost of that name")
    try:
        benv.create_vhost(env)
        most = max(cfg.delivery_cap, cfg.probe_deliveries if cfg.probe_splits else 0)  # in one phase
        pool = int(most * STATUS_EVENTS_PER_DELIVERY * 1.25 / cfg.tenants) + 20
        log(f"provisioning {cfg.tenants} tenants ({pool} outbound messages each)")
        t = time.monotonic()
        asyncio.run(benv.provision_tenants(env, cfg.tenants, pool))
        log(f"provisioned in {time.monotonic() - t:.0f} s")
        plans = [TenantPlan(t.index, t.accounts, t.waba_id, t.outbound_pool) for t in env.tenants]
        svc_env = {**env.service_env(), **cfg.service_env}
        if "OMNI_GRAPH_API_URL" not in cfg.service_env:
            stub, svc_env["OMNI_GRAPH_API_URL"] = pipeline.start_graph_stub(logdir)
            harness.append(stub)
        cfg, split = _choose_split(cfg, env, plans, svc_env)
        results: dict[str, Any] = {
            "name": env.name,
            "command": command,
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
            "machine": machine_info(env),
            "split": split,
        }
        if cfg.baselines:
            results["baselines"] = run_baselines(cfg, env, plans)
        ingress, ports = pipeline.start_ingress(cfg.ingress_procs, svc_env, logdir)
        services += ingress
        if cfg.ingress_only:
            log("product ingress alone (router and normalizer not running)")
            results["ingress_only"] = stats.http_phase(
                load(cfg, plans, ports, duration=cfg.baseline_duration, tag="ingress", rate=0)
            )
            benv.purge_queue(env, "ingress.raw")
        workers = pipeline.start_workers(cfg.split, svc_env, logdir, env.settings.rabbitmq_url)
        services += workers
        if cfg.warmup_per_tenant:
            results["warmup"] = warmup_phase(cfg, env, plans, ports)
        results["pipeline"] = pipeline_phase(cfg, env, plans, ports, ingress, workers, harness)
        report.write(results, cfg.out)
        log(f"report: {cfg.out / 'report.md'}")
        return results
    finally:
        t = time.monotonic()
        procs.stop(services + harness)
        log(f"processes stopped in {time.monotonic() - t:.1f} s")
        with contextlib.suppress(Exception):
            benv.teardown(env)
        log(f"removed {env.name} (vhost and databases)")


async def _all_committed(env: BenchEnv, sent: dict[str, float]) -> bool:
    rows = await readback.committed(env)
    return all(event_id in rows for event_id in sent)


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
    sent = result["sent_at"]
    waited = asyncio.run(
        queues.wait_drained(
            env.settings.rabbitmq_url, cfg.drain_timeout, env.vhost, lambda: _all_committed(env, sent)
        )
    )
    asyncio.run(readback.reset(env))
    seconds = time.monotonic() - t
    log(f"warm-up done in {seconds:.0f} s (rows reset)")
    return {"deliveries": result["deliveries"], "seconds": seconds, "drain_wait_s": waited}


def pipeline_phase(
    cfg: BenchConfig,
    env: BenchEnv,
    plans: list[TenantPlan],
    ports: list[int],
    ingress: list[procs.Proc],
    workers: list[procs.Proc],
    harness: list[procs.Proc],
) -> dict[str, Any]:
    log(f"pipeline: {cfg.duration:.0f} s of load, {cfg.tenants} tenants, split {cfg.split}")
    split = procs.postmasters(benv.server_names(env)) if env.extra_servers else {}
    sampler = procs.Sampler(ingress + workers + harness, pg_servers=split)
    qsampler = queues.QueueSampler(env.vhost)
    conns = readback.ConnectionSampler(env)
    sampler.start()
    qsampler.start()
    conns.start()
    bench_cpu = time.process_time()  # this process, every thread (samplers, drain checks)
    profiles: dict[str, list[tuple[str, float]]] = {}
    try:
        if cfg.profile:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(1) as pool:
                future = pool.submit(_profile, cfg, workers + ingress)
                result = load(cfg, plans, ports, duration=cfg.duration, tag="pipe", rate=cfg.rate)
                profiles = future.result()
        else:
            result = load(cfg, plans, ports, duration=cfg.duration, tag="pipe", rate=cfg.rate)
        log("load done; waiting for the queues to drain")
        sent = result["sent_at"]
        waited = asyncio.run(
            queues.wait_drained(
                env.settings.rabbitmq_url, cfg.drain_timeout, env.vhost, lambda: _all_committed(env, sent)
            )
        )
    finally:
        bench_cpu = time.process_time() - bench_cpu
        sampler.stop()
        qsampler.stop()
        conns.stop()
    rows = asyncio.run(readback.committed(env))
    e2e = stats.end_to_end(result, rows)
    cpu_seconds = {**sampler.cpu_seconds(), cpu.LOADGEN: result["cpu_s"], cpu.BENCH_SELF: bench_cpu}
    accounting = cpu.accounting(cpu_seconds, e2e["events_committed"])
    log(
        f"end to end: {e2e['events_per_s']:.0f} events/s, {e2e['events_missing']} missing,"
        f" drained after {waited:.0f} s; product CPU {report.fmt_ms(accounting['product_ms_per_event'])}"
        f" ms/event, load generator {report.fmt_ms(accounting['loadgen_ms_per_event'])} ms/event"
    )
    return {
        "started_at": result["started_at"],
        "acks_per_second": result["acks_per_second"],
        "http": stats.http_phase(result),
        "e2e": e2e,
        "drain_wait_s": waited,
        "cpu_seconds": cpu_seconds,
        "cpu": accounting,
        "loadgen_cpu_s_sending": result["cpu_s_sending"],
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
