"""``bench run --split auto``: a short closed-loop probe of each candidate split, the best one kept.

Each probe starts the candidate's processes on the run's vhost and catalog, sends the same bounded
load closed loop (``probe_deliveries``, within ``probe_seconds``), waits until every acked event is
committed, stops them, empties the stage queues and undoes the rows (as the warm-up does), so every
probe and the measured run start from the same state. Its figure is the headline's: events committed
/ time from the first send to the last commit, so a split whose ingress takes CPU from the rest pays
for it, as it would in the measured run.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, replace
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
        bounded = replace(cfg, max_deliveries=cfg.probe_deliveries)
        result = pipeline.load(bounded, plans, ports, duration=cfg.probe_seconds, tag=tag, rate=0)
        asyncio.run(_wait_committed(env, result["sent_at"], cfg.drain_timeout))
    finally:
        procs.stop(started)
    pipeline.purge_pipeline(env)
    rows = asyncio.run(readback.committed(env))
    asyncio.run(readback.reset(env))
    e2e = stats.end_to_end(result, rows)
    return {
        "split": str(split),
        **asdict(split),
        "events_per_s": e2e["events_per_s"],
        "events_acked": e2e["events_acked"],
        "events_missing": e2e["events_missing"],
        "webhooks_per_s": stats.http_phase(result)["req_per_s"],
        "seconds_to_last_commit": e2e["seconds_to_last_commit"],
        "probe_seconds": time.monotonic() - t,  # start-up, load, drain, stop, purge, read-back and reset
    }


async def _wait_committed(env: BenchEnv, sent: dict[str, float], timeout: float) -> None:
    """Until every acked event has its row (or ``timeout``): polled once a second, read-only."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        rows = await readback.committed(env)
        if all(event_id in rows for event_id in sent):
            return


def choose_split(
    cfg: BenchConfig, env: BenchEnv, plans: list[TenantPlan], svc_env: dict[str, str], candidates: list[Split]
) -> tuple[Split, list[dict[str, Any]]]:
    """Probe every candidate in order; the best by committed events/s, and every probe's figures."""
    probes: list[dict[str, Any]] = []
    for i, split in enumerate(candidates):
        log(f"split probe {i + 1}/{len(candidates)}: {split}, {cfg.probe_deliveries} deliveries closed loop")
        probes.append(probe_one(cfg, env, plans, svc_env, split, tag=f"probe{i}"))
        p = probes[-1]
        log(f"  {p['events_per_s']:.0f} events/s end to end, {p['events_missing']} missing")
    chosen = best([(s, p["events_per_s"]) for s, p in zip(candidates, probes, strict=True)])
    log(f"split chosen: {chosen}")
    return chosen, probes
