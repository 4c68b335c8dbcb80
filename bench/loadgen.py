"""The load generator, run as its own process: ``python -m bench.loadgen PLAN.json RESULT.json``.

Sends the mix to the ingress ports (127.0.0.1 only) over ``concurrency`` keep-alive connections,
either closed loop (``rate`` 0: as fast as answers come) or open loop at ``rate`` deliveries/s,
for at most ``duration`` seconds and ``max_deliveries`` deliveries. Writes per-request ack latency,
the send time of every event id and its own CPU time (the bench counts it apart from the product's).
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import uvloop

from bench.httpclient import Connection
from bench.mix import Mix, TenantPlan


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    tenants = [TenantPlan(**t) for t in plan["tenants"]]
    mix = Mix(tenants, plan["secret"], seed=plan["seed"], run_tag=plan["run_tag"])
    ports: list[int] = plan["ports"]
    concurrency: int = plan["concurrency"]
    rate: float = plan["rate"]
    duration: float = plan["duration"]
    cap: int = plan["max_deliveries"]
    connections = [Connection("127.0.0.1", ports[i % len(ports)]) for i in range(concurrency)]

    latencies: list[float] = []
    codes: Counter[int] = Counter()
    sent_at: dict[str, float] = {}  # event id -> wall-clock send time
    kinds: Counter[str] = Counter()
    per_second: Counter[int] = Counter()
    issued = 0
    t0_wall = time.time()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    deadline = t0 + duration

    async def worker(slot: int, conn: Connection) -> None:
        nonlocal issued
        k = 0
        while True:
            if rate > 0:
                due = t0 + (slot + k * concurrency) / rate
                k += 1
                now = time.perf_counter()
                if due > now:
                    await asyncio.sleep(due - now)
            if time.perf_counter() >= deadline or issued >= cap:
                return
            issued += 1
            d = mix.next()
            wall = time.time()
            start = time.perf_counter()
            code = await conn.post(f"/webhooks/{d.channel}", d.body, d.signature)
            end = time.perf_counter()
            latencies.append(end - start)
            codes[code] += 1
            per_second[int(end - t0)] += 1
            if code == 200:
                for kind, event_id in d.events:
                    sent_at[event_id] = wall
                    kinds[kind] += 1

    await asyncio.gather(*(worker(i, c) for i, c in enumerate(connections)))
    elapsed = time.perf_counter() - t0
    cpu_sending = time.process_time() - cpu0
    for c in connections:
        await c.close()
    return {
        "started_at": t0_wall,
        "elapsed": elapsed,
        "deliveries": len(latencies),
        "codes": {str(k): v for k, v in codes.items()},
        "latencies": latencies,
        "events": kinds,
        "sent_at": sent_at,
        "acks_per_second": [per_second.get(s, 0) for s in range(int(elapsed) + 1)],
        "cpu_s_sending": cpu_sending,
    }


def cpu_seconds() -> float:
    """This process's CPU time and its children's (start-up and the mix included)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    plan = orjson.loads(Path(sys.argv[1]).read_bytes())
    result = uvloop.run(run(plan))
    result["cpu_s"] = cpu_seconds()
    Path(sys.argv[2]).write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    main()
