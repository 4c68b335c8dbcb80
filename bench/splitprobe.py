"""``bench run --split auto``: a short closed-loop probe of each candidate split, the best one kept.

Each probe starts the candidate's processes on the run's vhost and catalog, sends the mix closed loop
for ``probe_seconds``, stops them, empties the stage queues, reads back what was committed and undoes
it (as the warm-up does), so every probe and the measured run start from the same state. Its figure
is the events committed inside the load window per second: the pipeline's rate while the load
generator keeps the ingress busy, as in the measured closed loop, without waiting for a backlog to
drain.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Any

from bench import pipeline, procs, readback, stats
from bench.config import BenchConfig
from bench.env import BenchEnv
from bench.mix import TenantPlan
from bench.pipeline import log
from bench.split import Split, best


def probe_one(
    cfg: BenchConfig, env: BenchEnv, plans: list[TenantPlan], svc_env: dict[str, str], split: Split, tag: str
) -> dict[str, Any]:
    logdir = cfg.out / "logs"
    started: list[procs.Proc] = []
    t = time.monotonic()
    try:
        ingress, ports = pipeline.start_ingress(split.ingress, svc_env, logdir)
        started += ingress
        started += pipeline.start_workers(split, svc_env, logdir, env.settings.rabbitmq_url)
        result = pipeline.load(cfg, plans, ports, duration=cfg.probe_seconds, tag=tag, rate=0)
    finally:
        procs.stop(started)
    pipeline.purge_pipeline(env)
    rows = asyncio.run(readback.committed(env))
    asyncio.run(readback.reset(env))
    e2e = stats.end_to_end(result, rows)
    http = stats.http_phase(result)
    return {
        "split": str(split),
        **asdict(split),
        "events_per_s": e2e["events_per_s_in_window"],
        "webhooks_per_s": http["req_per_s"],
        "events_acked": e2e["events_acked"],
        "load_seconds": http["seconds"],
        "probe_seconds": time.monotonic() - t,  # start-up, load, stop, purge, read-back and reset
    }


def choose_split(
    cfg: BenchConfig, env: BenchEnv, plans: list[TenantPlan], svc_env: dict[str, str], candidates: list[Split]
) -> tuple[Split, list[dict[str, Any]]]:
    """Probe every candidate in order; the best by committed events/s, and every probe's figures."""
    probes: list[dict[str, Any]] = []
    for i, split in enumerate(candidates):
        log(f"split probe {i + 1}/{len(candidates)}: {split}, {cfg.probe_seconds:g} s closed loop")
        probes.append(probe_one(cfg, env, plans, svc_env, split, tag=f"probe{i}"))
        log(f"  {probes[-1]['events_per_s']:.0f} events/s committed in the window")
    chosen = best([(s, p["events_per_s"]) for s, p in zip(candidates, probes, strict=True)])
    log(f"split chosen: {chosen}")
    return chosen, probes
