"""``python -m bench ingress``: the ingress alone, A/B against its baselines in one invocation.

Per round (rounds interleave, so drift on a shared machine hits every variant alike): the bare
HMAC endpoint, the HMAC + confirm baseline, then the product ingress once per variant (a set of
``OMNI_*`` settings, e.g. shared messages or the bare ASGI route). Each phase runs the same closed
loop load (``bench.loadgen``) and samples the CPU of its server processes and of RabbitMQ. No router,
normalizer or database: the ingress needs only the broker, and the raw queue is counted and purged
after each phase (webhooks per message = how much sharing happened).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import orjson

from bench import env as benv
from bench import procs, stats
from bench.baseline_app import BASELINE_QUEUE
from bench.config import BenchConfig
from bench.env import BenchEnv
from bench.mix import TenantPlan
from bench.pipeline import child_env, load, log
from bench.run import baseline_servers

SERVER = "BENCH_INGRESS_SERVER"  # "granian": bench/granian_ingress.py instead of `omni run`
# name -> service settings. "before": the ingress as it was before issue 24 (FastAPI route, one
# message per webhook); "default": as the settings' defaults configure it today.
VARIANTS: dict[str, dict[str, str]] = {
    "before": {"OMNI_INGRESS_ROUTE": "fastapi", "OMNI_INGRESS_SHARE_MS": "0"},
    "default": {},
    "asgi": {"OMNI_INGRESS_ROUTE": "asgi", "OMNI_INGRESS_SHARE_MS": "0"},
    "share2": {"OMNI_INGRESS_ROUTE": "fastapi", "OMNI_INGRESS_SHARE_MS": "2"},
    "asgi+share1": {"OMNI_INGRESS_ROUTE": "asgi", "OMNI_INGRESS_SHARE_MS": "1"},
    "asgi+share2": {"OMNI_INGRESS_ROUTE": "asgi", "OMNI_INGRESS_SHARE_MS": "2"},
    "granian+asgi": {"OMNI_INGRESS_ROUTE": "asgi", "OMNI_INGRESS_SHARE_MS": "0", SERVER: "granian"},
    "granian+asgi+share2": {"OMNI_INGRESS_ROUTE": "asgi", "OMNI_INGRESS_SHARE_MS": "2", SERVER: "granian"},
}


@dataclass
class IngressBenchConfig:
    variants: list[str]
    duration: float = 8.0
    rounds: int = 2
    procs: int = 1
    concurrency: int = 64
    out: Path = Path("bench/results/ingress")
    service_env: dict[str, str] = field(default_factory=dict)


def _plans(count: int = 20) -> list[TenantPlan]:
    """Tenants for the mix's envelopes only: the ingress never resolves them."""
    return [
        TenantPlan(
            i,
            {"whatsapp": f"10{i:013d}", "facebook": f"20{i:013d}", "instagram": f"17{i:015d}"},
            f"30{i:013d}",
            outbound_pool=100_000,
        )
        for i in range(count)
    ]


async def _count_and_purge(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        count = int(declared.declaration_result.message_count or 0)
        await declared.purge()
        return count
    finally:
        await connection.close()


def _phase(
    cfg: BenchConfig, plans: list[TenantPlan], group: list[procs.Proc], ports: list[int], tag: str
) -> dict[str, Any]:
    load1_before = os.getloadavg()[0]
    sampler = procs.Sampler(group)
    sampler.start()
    try:
        result = load(cfg, plans, ports, duration=cfg.baseline_duration, tag=tag, rate=0)
    finally:
        sampler.stop()
    http = stats.http_phase(result)
    cpu = sampler.cpu_seconds()
    server_cpu = sum(v for g, v in cpu.items() if g not in ("rabbitmq", "postgresql"))
    ok = max(1, http["ok"])
    return {
        **http,
        "server_cpu_ms_per_webhook": server_cpu / ok * 1000,
        "rabbitmq_cpu_ms_per_webhook": cpu.get("rabbitmq", 0.0) / ok * 1000,
        "machine_busy_cores": sampler.machine_busy_cores(),
        "load1": [load1_before, os.getloadavg()[0]],
    }


def _baseline(
    cfg: BenchConfig, env: BenchEnv, plans: list[TenantPlan], mode: str, tag: str
) -> dict[str, Any]:
    with baseline_servers(cfg, env, mode) as (group, ports):
        return _phase(cfg, plans, group, ports, tag)
        if mode == "confirm":
            benv.purge_queue(env, BASELINE_QUEUE)


def _variant(
    cfg: BenchConfig, env: BenchEnv, plans: list[TenantPlan], extra: dict[str, str], tag: str
) -> dict[str, Any]:
    svc_env = {**env.service_env(), **cfg.service_env, **extra}
    ports = [procs.free_port() for _ in range(cfg.ingress_procs)]
    health = [procs.free_port() for _ in ports]
    if extra.get(SERVER) == "granian":
        argv = [sys.executable, "-m", "bench.granian_ingress"]
        group = [
            procs.start(
                "ingress-webhooks",
                argv,
                {**svc_env, **child_env(), "OMNI_INGRESS_PORT": str(p), "OMNI_HEALTH_PORT": str(h)},
                cfg.out / "logs",
                port=p,
            )
            for p, h in zip(ports, health, strict=True)
        ]
    else:
        group = [
            procs.start_service("ingress-webhooks", svc_env, cfg.out / "logs", port=p, health_port=h)
            for p, h in zip(ports, health, strict=True)
        ]
    try:
        for h in health:
            procs.wait_http(h, "/readyz")
        out = _phase(cfg, plans, group, ports, tag)
    finally:
        procs.stop(group)
    messages = asyncio.run(_count_and_purge(env.settings.rabbitmq_url, "ingress.raw"))
    out["raw_messages"] = messages
    out["webhooks_per_message"] = out["ok"] / messages if messages else 0.0
    return out


def run_ingress(icfg: IngressBenchConfig, command: str) -> dict[str, Any]:
    unknown = [v for v in icfg.variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    cfg = BenchConfig(
        concurrency=icfg.concurrency,
        ingress_procs=icfg.procs,
        baseline_duration=icfg.duration,
        out=icfg.out,
        service_env=icfg.service_env,
    )
    env = benv.new_env()
    icfg.out.mkdir(parents=True, exist_ok=True)
    plans = _plans()
    rounds: list[dict[str, Any]] = []
    try:
        benv.create_vhost(env)
        for r in range(icfg.rounds):
            phases: dict[str, Any] = {}
            for mode in ("hmac", "confirm"):
                log(f"round {r + 1}: baseline {mode}")
                phases[f"baseline-{mode}"] = _baseline(cfg, env, plans, mode, f"r{r}{mode}")
            for name in icfg.variants:
                log(f"round {r + 1}: ingress {name}")
                phases[name] = _variant(cfg, env, plans, VARIANTS[name], f"r{r}v{icfg.variants.index(name)}")
            rounds.append(phases)
    finally:
        benv.teardown(env)
    results = {"command": command, "config": {**icfg.__dict__, "out": str(icfg.out)}, "rounds": rounds}
    (icfg.out / "ingress.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    (icfg.out / "ingress.md").write_text(report(results))
    print(report(results))
    return results


def report(results: dict[str, Any]) -> str:
    rounds: list[dict[str, Any]] = results["rounds"]
    names = list(rounds[0])
    lines = [
        f"`{results['command']}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        "| phase | req/s (rounds) | **/ HMAC+confirm** (median) | ack p50 / p99 ms"
        " | server CPU ms / webhook | RabbitMQ CPU ms / webhook | webhooks / message | load1 |",
        "|---|---|---:|---|---:|---:|---:|---|",
    ]
    for name in names:
        per = [r[name] for r in rounds]
        ratios = [r[name]["req_per_s"] / r["baseline-confirm"]["req_per_s"] for r in rounds]
        wpm = [p["webhooks_per_message"] for p in per if "webhooks_per_message" in p]
        rates = ", ".join(f"{p['req_per_s']:,.0f}" for p in per)
        p50 = statistics.median(p["ack_ms"]["p50"] for p in per)
        p99 = statistics.median(p["ack_ms"]["p99"] for p in per)
        server = statistics.median(p["server_cpu_ms_per_webhook"] for p in per)
        broker = statistics.median(p["rabbitmq_cpu_ms_per_webhook"] for p in per)
        shared = f"{statistics.median(wpm):.1f}" if wpm else "–"
        load1 = ", ".join(f"{p['load1'][0]:.1f}" for p in per)
        lines.append(
            f"| {name} | {rates} | {statistics.median(ratios):.2f} | {p50:.1f} / {p99:.1f} | {server:.3f}"
            f" | {broker:.3f} | {shared} | {load1} |"
        )
    return "\n".join(lines) + "\n"
