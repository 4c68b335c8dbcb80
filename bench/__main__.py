"""``python -m bench run [options]`` / ``python -m bench smoke``: see docs/performance.md."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import signal
import sys
from contextlib import ExitStack
from pathlib import Path

from bench.config import BenchConfig, smoke_config
from bench.ingress import VARIANTS, IngressBenchConfig, run_ingress
from bench.outbound import add_outbound_args, outbound_config, run_outbound
from bench.outbound_tenancy import run_outbound_tenancy
from bench.report import fmt_ms
from bench.run import run
from bench.split import candidates, parse_candidates, parse_split
from bench.tenancy import run_tenancy
from bench.writepath import WritepathConfig, run_writepath
from omni_common.logging import configure_logging
from omni_common.testing.pgcluster import private_cluster


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="the full benchmark")
    d = BenchConfig()
    r.add_argument("--duration", type=float, default=d.duration, help="seconds of pipeline load")
    r.add_argument("--rate", type=float, default=d.rate, help="deliveries/s offered; 0 = as fast as possible")
    r.add_argument("--tenants", type=int, default=d.tenants, help="e.g. 10 or 1000 for the tenancy variant")
    r.add_argument("--concurrency", type=int, default=d.concurrency, help="HTTP keep-alive connections")
    r.add_argument("--max-deliveries", type=int, default=0)
    r.add_argument("--ingress", type=int, default=d.ingress_procs, help="ingress processes (own ports)")
    r.add_argument("--router", type=int, default=d.router_procs, help="tenant-router processes")
    r.add_argument("--normalizer", type=int, default=d.normalizer_procs, help="normalizer processes")
    r.add_argument(
        "--split",
        default="",
        metavar="auto|ingress=2,router=1,normalizer=2",
        help="processes per service (instead of --ingress/--router/--normalizer); auto: probe"
        " the candidates with --probe-deliveries each and measure with the best",
    )
    r.add_argument(
        "--split-candidates",
        default="",
        metavar="SPLIT;SPLIT",
        help="what --split auto probes (default: one of each; one normalizer per core;"
        " the ingress, or else the router, at one per core too)",
    )
    r.add_argument(
        "--probe-deliveries", type=int, default=d.probe_deliveries, help="each probe's load (closed loop)"
    )
    r.add_argument("--probe-seconds", type=float, default=d.probe_seconds, help="at most, each probe's load")
    r.add_argument("--baseline-duration", type=float, default=d.baseline_duration)
    r.add_argument("--no-baselines", action="store_true")
    r.add_argument("--no-ingress-only", action="store_true")
    r.add_argument("--profile", action="store_true", help="py-spy one process per service")
    r.add_argument("--set", action="append", default=[], metavar="OMNI_X=V", help="extra service env")
    r.add_argument("--out", type=Path, default=d.out)
    r.add_argument(
        "--warmup",
        type=int,
        default=0,
        metavar="PER_TENANT",
        help="deliveries per tenant sent and undone before the measured load (steady state, not cold start)",
    )
    r.add_argument(
        "--private-pg",
        type=int,
        default=0,
        metavar="MAX_CONNECTIONS",
        help="run on a private PostgreSQL cluster with this max_connections (started and removed by the run)",
    )
    t = sub.add_parser("tenancy", help="the same inbound load over 10 and 1,000 tenants, back to back")
    t.add_argument("--counts", default="10,1000", help="tenant counts, comma-separated")
    t.add_argument("--duration", type=float, default=30.0, help="max seconds of load per variant")
    t.add_argument("--rate", type=float, default=0.0, help="deliveries/s offered; 0 = as fast as possible")
    t.add_argument("--max-deliveries", type=int, default=1500, help="same bounded load for every variant")
    t.add_argument("--concurrency", type=int, default=32)
    t.add_argument("--ingress", type=int, default=1)
    t.add_argument("--router", type=int, default=1)
    t.add_argument("--normalizer", type=int, default=1)
    t.add_argument("--drain-timeout", type=float, default=240.0)
    t.add_argument(
        "--shards",
        type=int,
        default=0,
        metavar="N",
        help="run every count twice: unsharded, then with N tenant shards (OMNI_NORMALIZER_SHARDS)",
    )
    t.add_argument(
        "--servers",
        type=int,
        default=1,
        metavar="N",
        help="spread the tenants over N PostgreSQL servers: the catalog's and N-1 private clusters"
        " (started and removed by the run; max_connections from --private-pg, else 100)",
    )
    t.add_argument("--profile", action="store_true", help="py-spy one process per service in each variant")
    t.add_argument("--set", action="append", default=[], metavar="OMNI_X=V", help="extra service env")
    t.add_argument("--out", type=Path, default=Path("bench/results/tenancy"))
    t.add_argument(
        "--warmup",
        type=int,
        default=0,
        metavar="PER_TENANT",
        help="deliveries per tenant sent and undone before the measured load (steady state, not cold start)",
    )
    t.add_argument(
        "--private-pg",
        type=int,
        default=0,
        metavar="MAX_CONNECTIONS",
        help="run on a private PostgreSQL cluster with this max_connections (started and removed by the run)",
    )
    o = sub.add_parser(
        "outbound", help="outbound-sender against the Meta sandbox (rate, latency, pacing, 429)"
    )
    add_outbound_args(o)
    o.add_argument(
        "--tenant-counts",
        default="",
        metavar="10,1000",
        help="the tenant-connection curve instead: --total replies over each count (rate-0ms only)",
    )
    o.add_argument("--total", type=int, default=6000, help="replies per count with --tenant-counts")
    w = sub.add_parser("writepath", help="the normalizer's write path alone: CPU per event by batch size")
    w.add_argument("--tenants", type=int, default=10)
    w.add_argument("--deliveries", type=int, default=3000, help="deliveries of the mix per batch size")
    w.add_argument("--batch", default="1,5", help="events per tenant batch, comma-separated")
    w.add_argument("--concurrency", type=int, default=8, help="batches written at once")
    w.add_argument("--private-pg", type=int, default=0, metavar="MAX_CONNECTIONS")
    i = sub.add_parser("ingress", help="the ingress alone: baselines and variants A/B in one invocation")
    i.add_argument(
        "--variants",
        default="before,asgi,share2,asgi+share2",
        help=f"comma-separated, of: {', '.join(VARIANTS)}",
    )
    i.add_argument("--duration", type=float, default=8.0, help="seconds of closed-loop load per phase")
    i.add_argument("--rounds", type=int, default=2, help="every phase this many times, interleaved")
    i.add_argument("--procs", type=int, default=1, help="server processes per phase (baselines too)")
    i.add_argument("--concurrency", type=int, default=64, help="HTTP keep-alive connections")
    i.add_argument("--set", action="append", default=[], metavar="OMNI_X=V", help="extra service env")
    i.add_argument("--out", type=Path, default=Path("bench/results/ingress"))
    s = sub.add_parser("smoke", help="a few hundred events, < 60 s")
    s.add_argument("--out", type=Path, default=Path("bench/results/smoke"))
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # SIGTERM (a timeout, kill) unwinds like Ctrl-C: the run's processes, private clusters, vhost and
    # databases are removed by the finally blocks instead of being left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    configure_logging(service="bench", json=False, level="WARNING")  # provisioning is chatty
    command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    if args.cmd == "writepath":
        with ExitStack() as stack:
            pg = stack.enter_context(private_cluster(args.private_pg)) if args.private_pg else None
            run_writepath(
                WritepathConfig(
                    tenants=args.tenants,
                    deliveries=args.deliveries,
                    batches=tuple(int(b) for b in args.batch.split(",")),
                    concurrency=args.concurrency,
                    **({"pg_admin_url": pg} if pg else {}),
                )
            )
        return 0
    if args.cmd == "ingress":
        run_ingress(
            IngressBenchConfig(
                variants=args.variants.split(","),
                duration=args.duration,
                rounds=args.rounds,
                procs=args.procs,
                concurrency=args.concurrency,
                out=args.out,
                service_env=dict(kv.split("=", 1) for kv in args.set),
            ),
            command,
        )
        return 0
    if args.cmd == "outbound":
        if args.tenant_counts:
            counts = [int(c) for c in args.tenant_counts.split(",")]
            run_outbound_tenancy(outbound_config(args), counts, args.total, command)
            return 0
        run_outbound(outbound_config(args), command)
        return 0
    if args.cmd == "tenancy":
        base = BenchConfig(
            duration=args.duration,
            rate=args.rate,
            concurrency=args.concurrency,
            max_deliveries=args.max_deliveries,
            ingress_procs=args.ingress,
            router_procs=args.router,
            normalizer_procs=args.normalizer,
            baselines=False,
            ingress_only=False,
            drain_timeout=args.drain_timeout,
            warmup_per_tenant=args.warmup,
            profile=args.profile,
            out=args.out,
            service_env=dict(kv.split("=", 1) for kv in args.set),
        )
        with ExitStack() as stack:
            if args.private_pg:
                base.pg_admin_url = stack.enter_context(private_cluster(args.private_pg))
            base.extra_servers = tuple(
                stack.enter_context(private_cluster(args.private_pg or 100)) for _ in range(args.servers - 1)
            )
            run_tenancy(base, [int(c) for c in args.counts.split(",")], command, shards=args.shards)
        return 0
    if args.cmd == "smoke":
        cfg = smoke_config(args.out)
    else:
        cfg = BenchConfig(
            duration=args.duration,
            rate=args.rate,
            tenants=args.tenants,
            concurrency=args.concurrency,
            max_deliveries=args.max_deliveries,
            ingress_procs=args.ingress,
            router_procs=args.router,
            normalizer_procs=args.normalizer,
            baseline_duration=args.baseline_duration,
            baselines=not args.no_baselines,
            ingress_only=not args.no_ingress_only,
            profile=args.profile,
            warmup_per_tenant=args.warmup,
            out=args.out,
            service_env=dict(kv.split("=", 1) for kv in args.set),
            probe_deliveries=args.probe_deliveries,
            probe_seconds=args.probe_seconds,
        )
        cfg = _with_split(cfg, args.split, args.split_candidates)
    with ExitStack() as stack:
        if getattr(args, "private_pg", 0):
            cfg = dataclasses.replace(cfg, pg_admin_url=stack.enter_context(private_cluster(args.private_pg)))
        results = run(cfg, command)
    pipe = results["pipeline"]
    print(
        f"end-to-end {pipe['e2e']['events_per_s']:.0f} events/s;"
        f" product CPU {fmt_ms(pipe['cpu']['product_ms_per_event'])} ms/event (load generator excluded);"
        f" load generator {fmt_ms(pipe['cpu']['loadgen_ms_per_event'])} ms/event;"
        f" split {results['split']['used']}; report in {cfg.out}/report.md"
    )
    return 0


def _with_split(cfg: BenchConfig, spec: str, candidate_spec: str) -> BenchConfig:
    """``--split``: counts as given, or (``auto``) the candidates to probe."""
    try:
        if spec == "auto":
            if candidate_spec:
                return dataclasses.replace(
                    cfg, probe_splits=tuple(parse_candidates(candidate_spec, cfg.split))
                )
            return dataclasses.replace(cfg, probe_splits=tuple(candidates(os.cpu_count() or 1)))
        if spec:
            return cfg.with_split(parse_split(spec, cfg.split))
    except ValueError as exc:
        raise SystemExit(f"--split: {exc}") from exc
    return cfg


if __name__ == "__main__":
    sys.exit(main())
