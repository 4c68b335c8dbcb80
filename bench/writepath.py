"""``python -m bench writepath``: the normalizer's write path alone, CPU per event by batch size.

No broker and no HTTP: the benchmark's mix is split as the router splits it, resolved to its tenant,
grouped per tenant into batches of ``--batch`` events in arrival order and written with
``handle_routed_batch`` (the normalizer's own code) by ``--concurrency`` tasks, on a registry holding
an engine per tenant (every connection warm after a first pass). Reports the client's CPU (this
process) and PostgreSQL's CPU per event. Process CPU time, not wall time: it varies less when the
machine is shared. Per-batch costs show as the difference between batch sizes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psutil

from bench import env as benv
from bench.config import APP_SECRET, PG_ADMIN_URL
from bench.mix import Mix, TenantPlan
from normalizer.accounts import AccountCache
from normalizer.handler import handle_routed_batch
from normalizer.store import tenant_stores
from omni_common.broker.outcomes import DeadLetter
from omni_common.channels.inbound import split_delivery
from omni_common.contracts import RoutedEvent
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import TenantEngineRegistry


@dataclass(frozen=True)
class WritepathConfig:
    tenants: int = 10
    deliveries: int = 3000
    batches: tuple[int, ...] = (1, 5)
    concurrency: int = 8
    seed: int = 8
    pg_admin_url: str = PG_ADMIN_URL


def _postgres_cpu() -> float:
    """CPU seconds of every postgres process, exited backends included (via their parent)."""
    total = 0.0
    for p in psutil.process_iter(["name", "ppid"]):
        if p.info["name"] != "postgres":
            continue
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
        if p.info["ppid"] == 1:  # the postmaster: its reaped children (backends) count too
            total += t.children_user + t.children_system
    return total


def new_mix(tenants: list[benv.BenchTenant], seed: int) -> Mix:
    """One mix for a whole run: each status then moves a message of its own."""
    plans = [TenantPlan(t.index, t.accounts, t.waba_id, t.outbound_pool) for t in tenants]
    return Mix(plans, APP_SECRET, seed=seed, run_tag="wp")


def routed_events(
    tenants: list[benv.BenchTenant], mix: Mix, deliveries: int, *, tag: str
) -> list[RoutedEvent]:
    """The mix's next deliveries as the router would route them, in arrival order."""
    owner = {(ch, acc): t.id for t in tenants for ch, acc in t.accounts.items()}
    events: list[RoutedEvent] = []
    for n in range(deliveries):
        delivery = mix.next()
        split = split_delivery(delivery.channel, delivery.body)
        for item in split.items:
            events.append(
                RoutedEvent(
                    event_id=f"{tag}{n}:{item.index}",
                    delivery_id=f"{tag}{n}",
                    tenant_id=owner[(delivery.channel, item.account_id)],
                    channel=delivery.channel,
                    account_id=item.account_id,
                    received_at=datetime.now(UTC),
                    payload=item.payload,
                )
            )
    return events


def batches_of(events: list[RoutedEvent], size: int) -> list[tuple[uuid.UUID, list[RoutedEvent]]]:
    """Per-tenant batches of up to ``size`` events, each closed when full (arrival order kept)."""
    open_: dict[uuid.UUID, list[RoutedEvent]] = {}
    out: list[tuple[uuid.UUID, list[RoutedEvent]]] = []
    for e in events:
        batch = open_.setdefault(e.tenant_id, [])
        batch.append(e)
        if len(batch) >= size:
            out.append((e.tenant_id, open_.pop(e.tenant_id)))
    out.extend(open_.items())
    return out


async def _write(
    registry: TenantEngineRegistry, batches: list[tuple[uuid.UUID, list[RoutedEvent]]], concurrency: int
) -> int:
    queue: asyncio.Queue[tuple[uuid.UUID, list[RoutedEvent]]] = asyncio.Queue()
    accounts = AccountCache(ttl=60.0)  # as the normalizer keeps one
    for b in batches:
        queue.put_nowait(b)
    failed = 0
    connect = tenant_stores(registry.driver_connection)

    async def worker() -> None:
        nonlocal failed
        while not queue.empty():
            tenant_id, events = queue.get_nowait()
            outcomes = await handle_routed_batch(tenant_id, events, connect=connect, accounts=accounts)
            for outcome in outcomes:
                failed += isinstance(outcome, (Exception, DeadLetter))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failed


async def measure(env: benv.BenchEnv, cfg: WritepathConfig) -> list[dict[str, Any]]:
    engine = catalog_engine(env.settings.database_url, pool_size=2, max_overflow=0)
    registry = TenantEngineRegistry(
        catalog=Catalog(engine),
        server_url=env.settings.database_url,
        connections_per_server=cfg.tenants,
        pool_pre_ping=False,  # as the normalizer builds it (services/normalizer/main.py)
        tenant_cache_seconds=60.0,
    )
    rows: list[dict[str, Any]] = []
    try:
        # First pass: every engine built and connected, statements compiled (not measured).
        mix = new_mix(env.tenants, cfg.seed)
        warm = routed_events(env.tenants, mix, cfg.tenants * 3, tag="w")
        await _write(registry, batches_of(warm, 1), cfg.concurrency)
        for size in cfg.batches:
            events = routed_events(env.tenants, mix, cfg.deliveries, tag=f"b{size}-")
            batches = batches_of(events, size)
            pg0, cpu0, t0 = _postgres_cpu(), time.process_time(), time.perf_counter()
            failed = await _write(registry, batches, cfg.concurrency)
            cpu, pg, wall = time.process_time() - cpu0, _postgres_cpu() - pg0, time.perf_counter() - t0
            rows.append(
                {
                    "batch": size,
                    "events": len(events),
                    "batches": len(batches),
                    "failed": failed,
                    "client_ms_per_event": 1000 * cpu / len(events),
                    "postgres_ms_per_event": 1000 * pg / len(events),
                    "client_ms_per_batch": 1000 * cpu / len(batches),
                    "events_per_s_wall": len(events) / wall,
                }
            )
    finally:
        await registry.close()
        await engine.dispose()
    return rows


def run_writepath(cfg: WritepathConfig) -> list[dict[str, Any]]:
    env = benv.new_env(cfg.pg_admin_url)
    try:
        pool = cfg.deliveries * 2 * len(cfg.batches) // cfg.tenants + 50
        asyncio.run(benv.provision_tenants(env, cfg.tenants, pool))
        rows = asyncio.run(measure(env, cfg))
    finally:
        benv.teardown(env)
    print(f"write path, {cfg.tenants} tenants, {cfg.concurrency} concurrent batches")
    print(
        "| events per batch | events | batches | client CPU ms/event | PostgreSQL CPU ms/event"
        " | client ms/batch | events/s (wall) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['batch']} | {r['events']} | {r['batches']} | {r['client_ms_per_event']:.2f}"
            f" | {r['postgres_ms_per_event']:.2f} | {r['client_ms_per_batch']:.2f}"
            f" | {r['events_per_s_wall']:.0f} |"
        )
    print(f"events not written (dead-lettered or failed): {sum(r['failed'] for r in rows)}")
    return rows
