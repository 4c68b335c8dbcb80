"""Starting the product's processes for a phase, and sending the mix at them with the load generator."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from bench import procs
from bench.config import APP_SECRET, BenchConfig
from bench.env import BenchEnv, mgmt_client
from bench.mix import TenantPlan
from bench.split import Split

REPO = Path(__file__).resolve().parent.parent
# What a phase leaves behind and the next must not see: stage queues, their shards and retry queues
# (dead-letter queues keep what they hold).
PIPELINE_QUEUES = ("ingress.raw", "normalizer.")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def child_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO)}


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
        env={**os.environ, **child_env()},
        cwd=REPO,
        check=True,
        timeout=duration + 120,
    )
    result: dict[str, Any] = orjson.loads(result_path.read_bytes())
    result_path.unlink()
    return result


async def wait_consumers(amqp_url: str, want: dict[str, int], timeout: float = 60.0) -> None:
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


def start_graph_stub(logdir: Path) -> tuple[procs.Proc, str]:
    """``bench/graphstub.py``: profile lookups of new senders answer at once, as Meta's would."""
    port = procs.free_port()
    argv = [sys.executable, "-m", "bench.graphstub", str(port)]
    stub = procs.start("graph-stub", argv, child_env(), logdir)
    try:
        procs.wait_http(port)
    except Exception:
        procs.stop([stub])
        raise
    return stub, f"http://127.0.0.1:{port}/v21.0"


def start_ingress(count: int, svc_env: dict[str, str], logdir: Path) -> tuple[list[procs.Proc], list[int]]:
    """``count`` ingress processes on ports of their own, ready (health answered)."""
    ports = [procs.free_port() for _ in range(count)]
    health_ports = [procs.free_port() for _ in ports]
    group = [
        procs.start_service("ingress-webhooks", svc_env, logdir, port=p, health_port=h)
        for p, h in zip(ports, health_ports, strict=True)
    ]
    try:
        for h in health_ports:
            procs.wait_http(h)
    except Exception:
        procs.stop(group)
        raise
    return group, ports


def start_workers(split: Split, svc_env: dict[str, str], logdir: Path, amqp_url: str) -> list[procs.Proc]:
    """The split's routers and normalizers, each consuming."""
    workers = [procs.start_service("tenant-router", svc_env, logdir) for _ in range(split.router)]
    workers += [procs.start_service("normalizer", svc_env, logdir) for _ in range(split.normalizer)]
    try:
        want = {"ingress.raw": split.router, "normalizer.events": split.normalizer}
        asyncio.run(wait_consumers(amqp_url, want))
    except Exception:
        procs.stop(workers)
        raise
    return workers


def purge_pipeline(env: BenchEnv) -> list[str]:
    """Empty the run's stage queues (names in ``PIPELINE_QUEUES``, dead-letter queues aside)."""
    vhost = quote(env.vhost, safe="")
    with mgmt_client() as api:
        names = [r["name"] for r in api.get(f"/api/queues/{vhost}", params={"columns": "name"}).json()]
        purged = [n for n in names if n.startswith(PIPELINE_QUEUES) and not n.endswith(".dlq")]
        for name in purged:
            api.delete(f"/api/queues/{vhost}/{quote(name, safe='')}/contents")
    return purged
