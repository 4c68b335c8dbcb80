"""``python -m bench outbound``: replies through the outbound-sender against the Meta sandbox.

One run: its own catalog database and vhost (``omnibench_<random>``, removed at the end), ``--tenants``
tenants with ``--numbers`` WhatsApp numbers each, a Meta sandbox process (``python -m meta_sandbox``)
seeded with those numbers and their tokens, status webhooks off, and ``omni run outbound-sender`` as
its own process pointed at it. Replies are queued the way the inbox queues them: a ``queued`` outbound
``chat_messages`` row (one fresh customer chat each, window open) with its outbox row, then a confirmed
``SendReply`` publish (outbox row stamped published, as ``publish_reply`` does).

Scenarios (each waits until no reply of it is ``queued``/``sending`` any more):

* ``rate-0ms``: replies spread over every number, sandbox answering at once: sent rows/s.
* ``pacing``: one number, ``--pacing-messages`` replies at its default 80 msg/s: the rate measured
  from the sandbox's recorded request times.
* ``storm-429``: a ``130429`` fault for the first ``--storm-share`` of the requests (every number):
  every reply must end ``sent`` or ``failed``; retries counted.
* ``rate-100ms``: as ``rate-0ms`` through ``bench.delayproxy`` adding ``--latency-ms`` (100) to every
  request (the sender is restarted with that Graph URL; the result is named after the latency).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import psycopg

from bench import env as benv
from bench import procs, profile, readback
from bench.env import BenchEnv
from bench.pipeline import child_env, log, wait_consumers

GRAPH_VERSION = "v21.0"
DEFAULT_SERVICE_ENV = {
    # senders x (10 + 3 catalog) = 2 x 13 = 26 PostgreSQL connections at most: a send holds a
    # connection for one short statement, so a few per process serve every tenant.
    "OMNI_DB_CONNECTIONS_PER_SERVER": "10",
}
PACING_TARGET = 80.0
PACING_TOLERANCE = 0.05


@dataclass
class OutboundConfig:
    tenants: int = 10
    numbers: int = 5  # WhatsApp numbers per tenant
    per_number: int = 120  # replies per number in the rate scenarios
    latency_ms: float = 100.0
    pacing_messages: int = 800  # one number at 80 msg/s: ~10 s
    storm_per_number: int = 40
    storm_share: float = 0.3
    settle_timeout: float = 180.0
    scenarios: tuple[str, ...] = ("rate-0ms", "pacing", "storm-429", "rate-100ms")
    profile: bool = False  # py-spy the sender (and the sandbox) during rate-0ms
    senders: int = 2  # outbound-sender processes, pacing shared through Redis when > 1
    redis_url: str = "redis://127.0.0.1:6379/0"
    out: Path = field(default_factory=lambda: Path("bench/results/outbound"))
    service_env: dict[str, str] = field(default_factory=dict)


def add_outbound_args(p: argparse.ArgumentParser) -> None:
    d = OutboundConfig()
    p.add_argument("--tenants", type=int, default=d.tenants)
    p.add_argument("--numbers", type=int, default=d.numbers, help="WhatsApp numbers per tenant")
    p.add_argument("--per-number", type=int, default=d.per_number, help="replies per number (rate runs)")
    p.add_argument("--latency-ms", type=float, default=d.latency_ms, help="added Graph latency, 2nd run")
    p.add_argument("--pacing-messages", type=int, default=d.pacing_messages)
    p.add_argument("--storm-per-number", type=int, default=d.storm_per_number)
    p.add_argument("--storm-share", type=float, default=d.storm_share, help="share of requests 429'd")
    p.add_argument("--settle-timeout", type=float, default=d.settle_timeout)
    p.add_argument("--scenarios", default=",".join(d.scenarios))
    p.add_argument("--set", action="append", default=[], metavar="OMNI_X=V", help="extra sender env")
    p.add_argument("--profile", action="store_true", help="py-spy the sender and sandbox during rate-0ms")
    p.add_argument("--senders", type=int, default=d.senders, help="sender processes (shared Redis pacer)")
    p.add_argument("--redis-url", default=d.redis_url, help="shared pacer's Redis ('' = local pacing)")
    p.add_argument("--out", type=Path, default=d.out)


def outbound_config(a: argparse.Namespace) -> OutboundConfig:
    return OutboundConfig(
        tenants=a.tenants,
        numbers=a.numbers,
        per_number=a.per_number,
        latency_ms=a.latency_ms,
        pacing_messages=a.pacing_messages,
        storm_per_number=a.storm_per_number,
        storm_share=a.storm_share,
        settle_timeout=a.settle_timeout,
        scenarios=tuple(s for s in a.scenarios.split(",") if s),
        profile=a.profile,
        senders=a.senders,
        redis_url=a.redis_url,
        out=a.out,
        service_env={**DEFAULT_SERVICE_ENV, **dict(kv.split("=", 1) for kv in a.set)},
    )


@dataclass(frozen=True)
class Number:
    tenant_index: int
    tenant_id: uuid.UUID
    db_name: str
    external_id: str  # phone-number id

    @property
    def token(self) -> str:
        return f"token-{self.external_id}"


def number_id(tenant: int, k: int) -> str:
    return f"5{tenant:05d}{k:09d}"


async def provision(env: BenchEnv, cfg: OutboundConfig) -> tuple[list[Number], Number]:
    """Tenants with ``numbers`` WhatsApp numbers each; tenant 0 also gets the pacing number."""
    from omni_common.crypto import KeyRing
    from omni_common.db.catalog import Catalog, catalog_engine
    from omni_common.db.registry import TenantEngineRegistry
    from omni_common.tenancy.accounts import connect_account
    from omni_common.tenancy.migrate import migrate_all
    from omni_common.tenancy.provisioning import create_tenant

    await migrate_all(env.settings.database_url)
    engine = catalog_engine(env.settings.database_url, pool_size=1, max_overflow=1)
    catalog = Catalog(engine)
    registry = TenantEngineRegistry(
        catalog=catalog, server_url=env.settings.database_url, connections_per_server=4
    )
    keyring = KeyRing.from_strings(env.settings.encryption_key_list())
    numbers: list[Number] = []
    pacing: Number | None = None
    try:
        for t in range(cfg.tenants):
            slug = f"obench-{t:04d}"
            record = await create_tenant(
                env.settings.database_url,
                slug,
                display_name=f"Outbound bench {t}",
                owner_email=f"owner@{slug}.test",
                owner_password=f"pw-{slug}-123",
            )
            ids = [number_id(t, k) for k in range(cfg.numbers + (1 if t == 0 else 0))]
            async with registry.begin(record.id) as session:
                for ext in ids:
                    await connect_account(
                        session,
                        catalog=catalog,
                        keyring=keyring,
                        tenant_id=record.id,
                        channel="whatsapp",
                        external_account_id=ext,
                        token=f"token-{ext}",
                    )
            env.remember(record)  # its database may be on another server
            made = [Number(t, record.id, record.db_name, ext) for ext in ids]
            if t == 0:
                pacing = made.pop()
            numbers += made
    finally:
        await registry.close()
        await engine.dispose()
    assert pacing is not None
    return numbers, pacing


QUEUE_SQL = """
WITH acc AS (
  SELECT id FROM social_accounts WHERE platform = 'whatsapp' AND external_account_id = %(acc)s
), c AS (
  INSERT INTO contacts (social_account_id, channel, external_id, display_name)
  SELECT acc.id, 'whatsapp', %(prefix)s || lpad(g::text, 6, '0'), 'Bench customer'
  FROM acc, generate_series(1, %(n)s) AS g
  RETURNING id, social_account_id
), ch AS (
  INSERT INTO chats (social_account_id, contact_id, channel, last_inbound_at)
  SELECT social_account_id, id, 'whatsapp', now() FROM c RETURNING id
), m AS (
  INSERT INTO chat_messages (id, tenant_id, chat_id, channel, direction, kind, text, status, status_at,
                             created_at)
  SELECT gen_random_uuid(), %(tenant)s, ch.id, 'whatsapp', 'outbound', 'text', %(tag)s, 'queued', now(), now()
  FROM ch RETURNING id
), o AS (
  INSERT INTO outbox (message_id, kind, payload, published_at)
  SELECT m.id, 'reply.send', jsonb_build_object('type', 'reply.send', 'version', 1,
         'tenant_id', %(tenant)s::text, 'message_id', m.id::text, 'channel', 'whatsapp'), now()
  FROM m
)
SELECT id FROM m
"""


async def queue_replies(
    numbers: list[Number], per_number: int, tag: str, scenario_digit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Insert ``per_number`` queued replies (fresh customer, open window) per number: (tenant, message)."""
    by_db: dict[str, list[Number]] = {}
    for n in numbers:
        by_db.setdefault(n.db_name, []).append(n)
    out: list[tuple[uuid.UUID, uuid.UUID]] = []
    for db, nums in by_db.items():
        async with await psycopg.AsyncConnection.connect(_conninfo(db)) as conn:
            for n in nums:
                # Customer numbers unique per scenario and number: 49 <scenario> <number#> <k>.
                k = int(n.external_id[-3:])
                prefix = f"49{scenario_digit}{n.tenant_index:04d}{k:02d}"
                cur = await conn.execute(
                    QUEUE_SQL,
                    {
                        "acc": n.external_id,
                        "prefix": prefix,
                        "n": per_number,
                        "tenant": n.tenant_id,
                        "tag": tag,
                    },
                )
                out += [(n.tenant_id, r[0]) for r in await cur.fetchall()]
    return out


_ENV: BenchEnv | None = None


def _conninfo(db: str) -> str:
    assert _ENV is not None
    return _ENV.conninfo(db)


async def publish(amqp_url: str, replies: list[tuple[uuid.UUID, uuid.UUID]]) -> float:
    """Publish one SendReply per reply with pipelined confirms (as ``publish_reply`` would, 1 by 1)."""
    import aio_pika
    from aio_pika import DeliveryMode

    from omni_common.broker.topology import EVENTS_EXCHANGE
    from omni_common.contracts import SendReply
    from omni_common.outbound.commands import CommandMessage, reply_message

    def message(command: CommandMessage) -> aio_pika.Message:
        # The inbox's message as is: ids, and the tenant header that picks its shard.
        return aio_pika.Message(
            command.body,
            message_id=command.message_id,
            correlation_id=command.correlation_id,
            headers=dict(command.headers),
            content_type="application/json",
            delivery_mode=DeliveryMode.PERSISTENT,
        )

    connection = await aio_pika.connect(amqp_url)
    t0 = time.time()
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(EVENTS_EXCHANGE, ensure=False)
        for i in range(0, len(replies), 500):
            commands = [
                reply_message(SendReply(tenant_id=tid, message_id=mid, channel="whatsapp"))
                for tid, mid in replies[i : i + 500]
            ]
            await asyncio.gather(
                *(exchange.publish(message(c), routing_key=c.routing_key, mandatory=True) for c in commands)
            )
    finally:
        await connection.close()
    return t0


STATUS_SQL = (
    "SELECT status, count(*), extract(epoch FROM min(status_at))::float8,"
    " extract(epoch FROM max(status_at))::float8, sum(CASE WHEN error_code IS NOT NULL THEN 1 ELSE 0 END)"
    " FROM chat_messages WHERE text = %s GROUP BY status"
)


async def statuses(dbs: list[str], tag: str) -> dict[str, dict[str, float]]:
    agg: dict[str, dict[str, float]] = {}
    for db in dbs:
        async with await psycopg.AsyncConnection.connect(_conninfo(db)) as conn:
            for status, count, first, last, with_error in await (
                await conn.execute(STATUS_SQL, (tag,))
            ).fetchall():
                a = agg.setdefault(status, {"count": 0, "first": first, "last": last, "with_error": 0})
                a["count"] += count
                a["first"] = min(a["first"], first)
                a["last"] = max(a["last"], last)
                a["with_error"] += with_error
    return agg


async def settle(dbs: list[str], tag: str, total: int, timeout: float) -> tuple[dict[str, Any], list[Any]]:
    """Poll until no reply of ``tag`` is queued or sending (or ``timeout``): last counts, timeline."""
    deadline = time.monotonic() + timeout
    timeline = []
    while True:
        agg = await statuses(dbs, tag)
        counts = {s: int(v["count"]) for s, v in agg.items()}
        timeline.append((time.time(), counts))
        pending = counts.get("queued", 0) + counts.get("sending", 0)
        if (pending == 0 and sum(counts.values()) >= total) or time.monotonic() > deadline:
            return agg, timeline
        await asyncio.sleep(0.5)


def sandbox_requests(client: httpx.Client, account: str | None = None) -> list[dict[str, Any]]:
    path = f"/{account}/messages" if account else "/messages"
    rows = client.get("/_sandbox/requests", params={"path_contains": path}).json()
    return [{"t": r["time"], "status": r["response_status"], "path": r["path"]} for r in rows]


def rate_from_times(times: list[float], skip: int = 0) -> dict[str, Any]:
    """Rates from request times: overall, steady (fit after ``skip``), and the busiest 1-s window."""
    ts = np.sort(np.asarray(times))
    if len(ts) < 3:
        return {"requests": len(ts)}
    overall = (len(ts) - 1) / (ts[-1] - ts[0])
    steady = ts[skip:]
    slope = float(np.polyfit(steady - steady[0], np.arange(len(steady)), 1)[0]) if len(steady) > 2 else None
    ends = np.searchsorted(ts, ts + 1.0, side="left")
    busiest = int((ends - np.arange(len(ts))).max())
    per_second = np.bincount((ts - ts[0]).astype(int)).tolist()
    return {
        "requests": len(ts),
        "span_s": float(ts[-1] - ts[0]),
        "overall_per_s": float(overall),
        "steady_per_s": slope,
        "busiest_1s_window": busiest,
        "per_second": per_second,
        # Every full second from the first request (the last, partial one excluded).
        "full_seconds": per_second[:-1],
    }


def pacing_verdict(rate: dict[str, Any], target: float, tolerance: float) -> dict[str, Any]:
    """Is every full 1-s bin, the busiest sliding 1-s window and the average within ``tolerance``?"""
    full = rate.get("full_seconds") or []
    low, high = target * (1 - tolerance), target * (1 + tolerance)
    worst = max((abs(n / target - 1) for n in full), default=0.0)
    avg = rate.get("overall_per_s") or 0.0
    return {
        "target_per_s": target,
        "full_seconds_min_max": [min(full, default=0), max(full, default=0)],
        "worst_full_second_pct": worst * 100,
        "busiest_window_pct": ((rate.get("busiest_1s_window") or 0) / target - 1) * 100,
        "average_pct": (avg / target - 1) * 100,
        "within": bool(full)
        and all(low <= n <= high for n in full)
        and low <= avg <= high
        and (rate.get("busiest_1s_window") or 0) <= high,
    }


def run_scenario(
    name: str,
    env: BenchEnv,
    sandbox: httpx.Client,
    numbers: list[Number],
    per_number: int,
    digit: int,
    cfg: OutboundConfig,
    sampler_procs: list[procs.Proc],
    *,
    fault: dict[str, Any] | None = None,
) -> dict[str, Any]:
    tag = f"bench-{name}"
    sandbox.delete("/_sandbox/requests")
    sandbox.delete("/_sandbox/faults")
    replies = asyncio.run(queue_replies(numbers, per_number, tag, digit))
    if fault is not None:
        sandbox.post("/_sandbox/faults", json=fault).raise_for_status()
    log(f"outbound {name}: {len(replies)} replies over {len(numbers)} numbers")
    sampler = procs.Sampler(sampler_procs)
    sampler.start()
    try:
        t0 = asyncio.run(publish(env.settings.rabbitmq_url, replies))
        published = time.time() - t0
        dbs = sorted({n.db_name for n in numbers})
        agg, timeline = asyncio.run(settle(dbs, tag, len(replies), cfg.settle_timeout))
    finally:
        sampler.stop()
    reqs = sandbox_requests(sandbox)
    faults = sandbox.get("/_sandbox/faults").json()
    counts = {s: int(v["count"]) for s, v in agg.items()}
    sent = agg.get("sent")
    sent_per_s = sent["count"] / (sent["last"] - t0) if sent and sent["last"] > t0 else 0.0
    codes: dict[str, int] = {}
    for r in reqs:
        codes[str(r["status"])] = codes.get(str(r["status"]), 0) + 1
    result = {
        "replies": len(replies),
        "numbers": len(numbers),
        "publish_s": published,
        "final": counts,
        "settled": counts.get("queued", 0) + counts.get("sending", 0) == 0,
        "seconds_to_last_sent": (sent["last"] - t0) if sent else None,
        "sent_per_s": sent_per_s,
        "graph_requests": len(reqs),
        "graph_codes": codes,
        "graph_rate": rate_from_times([r["t"] for r in reqs if r["status"] == 200]),
        "retries": len(reqs) - len(replies) if fault else None,
        "faults": [{k: f[k] for k in ("error_code", "count", "hits")} for f in faults],
        "cpu_seconds": sampler.cpu_seconds(),
        "sampled_seconds": sampler.span,
        "machine_busy_cores": sampler.machine_busy_cores(),
        "timeline": timeline,
    }
    log(
        f"outbound {name}: {counts}; {sent_per_s:.0f} sent rows/s;"
        f" {len(reqs)} Graph requests {codes}; settled={result['settled']}"
    )
    return result


def _seed_file(path: Path, numbers: list[Number]) -> None:
    accounts = [
        {
            "channel": "whatsapp",
            "account_id": n.external_id,
            "token": n.token,
            "display_name": f"Bench {n.external_id}",
            "display_phone_number": f"+{n.external_id}",
        }
        for n in numbers
    ]
    path.write_bytes(orjson.dumps({"accounts": accounts}))


def _pace_prefix(env: BenchEnv) -> str:
    """Redis key prefix of this run's shared pacer (other runs on the machine use their own)."""
    return f"{env.name}:pace:"


def _senders(env: BenchEnv, cfg: OutboundConfig, graph_port: int) -> list[procs.Proc]:
    """``cfg.senders`` sender processes; with more than one they share pacing through Redis."""
    svc = {
        **env.service_env(),
        "OMNI_GRAPH_API_URL": f"http://127.0.0.1:{graph_port}/{GRAPH_VERSION}",
        **cfg.service_env,
    }
    if cfg.redis_url:
        svc |= {"OMNI_OUTBOUND_REDIS_URL": cfg.redis_url, "OMNI_OUTBOUND_REDIS_PREFIX": _pace_prefix(env)}
    elif cfg.senders > 1:
        raise SystemExit("--senders > 1 needs --redis-url: local pacing would multiply each number's rate")
    # One log directory per sender: log names are millisecond stamps, two starts may share one.
    started = [
        procs.start_service("outbound-sender", svc, cfg.out / "logs" / f"sender-{i}")
        for i in range(cfg.senders)
    ]
    want = {"outbound.commands": cfg.senders}
    deadline = time.monotonic() + 60
    while True:  # each sender declares its topology when it starts: wait for the queue, then consumers
        try:
            asyncio.run(wait_consumers(env.settings.rabbitmq_url, want, timeout=30))
            return started
        except Exception:
            if time.monotonic() > deadline or any(p.popen.poll() is not None for p in started):
                raise
            time.sleep(0.5)


def _drop_pace_keys(env: BenchEnv, cfg: OutboundConfig) -> None:
    """Remove this run's pacer keys (they expire on their own within seconds; this is tidiness)."""
    if not cfg.redis_url:
        return
    import redis

    client = redis.Redis.from_url(cfg.redis_url, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=_pace_prefix(env) + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _sum_counts(many: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in many:
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    return total


def _log_counts(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                ev = orjson.loads(line).get("event")
                if isinstance(ev, str):
                    counts[ev] = counts.get(ev, 0) + 1
    return counts


def run_outbound(cfg: OutboundConfig, command: str) -> dict[str, Any]:
    global _ENV
    env = benv.new_env()
    _ENV = env
    cfg.out.mkdir(parents=True, exist_ok=True)
    started: list[procs.Proc] = []
    results: dict[str, Any] = {
        "name": env.name,
        "command": command,
        "config": asdict(cfg) | {"out": str(cfg.out)},
    }
    log(f"environment {env.name}: catalog database and vhost of that name")
    conns = readback.ConnectionSampler(env)
    try:
        benv.create_vhost(env)
        t = time.monotonic()
        numbers, pacing = asyncio.run(provision(env, cfg))
        log(
            f"provisioned {cfg.tenants} tenants, {len(numbers) + 1} WhatsApp numbers"
            f" in {time.monotonic() - t:.0f} s"
        )
        seed = (cfg.out / "sandbox-seed.json").resolve()
        _seed_file(seed, [*numbers, pacing])
        sb_port = procs.free_port()
        sandbox_proc = procs.start(
            "meta-sandbox",
            [sys.executable, "-m", "meta_sandbox", "--port", str(sb_port), "--seed", str(seed)],
            {**child_env(), "OMNI_LOG_LEVEL": "WARNING"},
            cfg.out / "logs",
        )
        started.append(sandbox_proc)
        procs.wait_http(sb_port, "/_sandbox/health")
        sandbox = httpx.Client(base_url=f"http://127.0.0.1:{sb_port}", timeout=60)
        sandbox.post("/_sandbox/config", json={"emit_statuses": False}).raise_for_status()
        conns.start()
        scenarios: dict[str, Any] = {}
        senders = _senders(env, cfg, sb_port)
        started += senders
        watched = [*senders, sandbox_proc]
        if "rate-0ms" in cfg.scenarios:
            recs = []
            if cfg.profile:
                recs = [
                    (p.group, profile.record(p.popen.pid, 15, cfg.out / f"pyspy-{p.group}.txt"))
                    for p in (senders[0], sandbox_proc)
                ]
            scenarios["rate-0ms"] = run_scenario(
                "rate-0ms", env, sandbox, numbers, cfg.per_number, 1, cfg, watched
            )
            for group, rec in recs:
                rec.wait(timeout=120)
                results.setdefault("profiles", {})[group] = profile.top_frames(cfg.out / f"pyspy-{group}.txt")
        if "pacing" in cfg.scenarios:
            r = run_scenario("pacing", env, sandbox, [pacing], cfg.pacing_messages, 2, cfg, watched)
            # GCRA lets the first ``burst`` through at once; the steady rate is fitted after them.
            r["pacing"] = rate_from_times(
                [x["t"] for x in sandbox_requests(sandbox, pacing.external_id)], skip=8
            )
            steady = r["pacing"].get("steady_per_s") or 0.0
            r["pacing"]["error_pct"] = (steady / PACING_TARGET - 1) * 100
            r["pacing"] |= pacing_verdict(r["pacing"], PACING_TARGET, PACING_TOLERANCE)
            log(
                f"pacing: steady {steady:.2f} msg/s ({r['pacing']['error_pct']:+.2f} %), full seconds"
                f" {r['pacing']['full_seconds_min_max']}, busiest window {r['pacing']['busiest_1s_window']},"
                f" within ±5 %: {r['pacing']['within']}"
            )
            scenarios["pacing"] = r
        if "storm-429" in cfg.scenarios:
            total = cfg.storm_per_number * len(numbers)
            fault = {
                "error_code": 130429,
                "count": int(total * cfg.storm_share),
                "regain_minutes": 0,
                "match": {"method": "POST"},
            }
            before = _sum_counts(_log_counts(p.log) for p in senders)
            scenarios["storm-429"] = run_scenario(
                "storm-429", env, sandbox, numbers, cfg.storm_per_number, 3, cfg, watched, fault=fault
            )
            after = _sum_counts(_log_counts(p.log) for p in senders)
            scenarios["storm-429"]["sender_log"] = {
                k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)
            }
        if any(s.startswith("rate-") and s != "rate-0ms" for s in cfg.scenarios):  # e.g. rate-100ms
            procs.stop(senders)
            proxy_port = procs.free_port()
            proxy = procs.start(
                "delay-proxy",
                [
                    sys.executable,
                    "-m",
                    "bench.delayproxy",
                    str(proxy_port),
                    str(sb_port),
                    str(cfg.latency_ms),
                ],
                child_env(),
                cfg.out / "logs",
            )
            started.append(proxy)
            procs.wait_http(proxy_port, "/_sandbox/health")
            senders = _senders(env, cfg, proxy_port)
            started += senders
            name = f"rate-{cfg.latency_ms:.0f}ms"
            scenarios[name] = run_scenario(
                name, env, sandbox, numbers, cfg.per_number, 4, cfg, [*senders, sandbox_proc, proxy]
            )
        results["scenarios"] = scenarios
    finally:
        conns.stop()
        procs.stop(started)
        with contextlib.suppress(Exception):
            _drop_pace_keys(env, cfg)
        with contextlib.suppress(Exception):
            benv.teardown(env)
        log(f"removed {env.name} (vhost and databases)")
    results["pg_connections_peak"] = conns.peak
    results["sender_log"] = {p.log.name: _log_counts(p.log) for p in started if p.group == "outbound-sender"}
    (cfg.out / "outbound.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    write_md(results, cfg.out / "outbound.md")
    log(f"report: {cfg.out / 'outbound.md'}")
    return results


def write_md(res: dict[str, Any], path: Path) -> None:
    lines = [
        "# Outbound benchmark",
        "",
        f"`{res['command']}`",
        "",
        f"Sender settings: {res['config']['service_env']}; peak PostgreSQL connections on the run's"
        f" databases: {res.get('pg_connections_peak')}",
        "",
        "| scenario | replies | numbers | final statuses | sent rows/s | Graph requests (codes)"
        " | s to last sent | CPU s sender / sandbox |",
        "|---|---:|---:|---|---:|---|---:|---|",
    ]
    for name, s in res.get("scenarios", {}).items():
        cpu = s["cpu_seconds"]
        lines.append(
            f"| {name} | {s['replies']} | {s['numbers']} | {s['final']} | {s['sent_per_s']:.0f}"
            f" | {s['graph_requests']} {s['graph_codes']} | {s['seconds_to_last_sent'] or 0:.1f}"
            f" | {cpu.get('outbound-sender', 0):.1f} / {cpu.get('meta-sandbox', 0):.1f} |"
        )
    pacing = res.get("scenarios", {}).get("pacing", {}).get("pacing")
    if pacing:
        lines += [
            "",
            f"Pacing (one number, target 80/s): steady {pacing.get('steady_per_s') or 0:.2f}/s"
            f" ({pacing.get('error_pct', 0):+.2f} %), overall {pacing.get('overall_per_s', 0):.2f}/s,"
            f" busiest 1-s window {pacing.get('busiest_1s_window')} requests,"
            f" per second {pacing.get('per_second')}",
        ]
    storm = res.get("scenarios", {}).get("storm-429")
    if storm:
        lines += [
            "",
            f"429 storm: faults {storm['faults']}, retries {storm['retries']},"
            f" sender log {storm.get('sender_log')}",
        ]
    lines.append("")
    path.write_text("\n".join(lines))
