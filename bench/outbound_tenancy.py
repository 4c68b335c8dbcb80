"""``python -m bench outbound --tenant-counts 10,1000``: the sender's tenant-connection curve.

The same number of replies (``--total``) goes out over 10, then over 1,000 tenants (one catalog and
vhost per count, as ``bench outbound`` does), in the zero-latency rate scenario only. Every send
reads and writes its tenant's database, so a sender serving many tenants within its bounded
connection budget reconnects: this measures whether that costs it what it costs the normalizer
(issue 21 item 3's "measure first" for the sender). Each rate is a ratio against the first count's run in the
same invocation.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from bench.outbound import OutboundConfig, run_outbound
from bench.pipeline import log

NUMBERS_IN_ALL = 50  # WhatsApp numbers over all tenants (at least one each): pacing never binds


def run_outbound_tenancy(base: OutboundConfig, counts: list[int], total: int, command: str) -> dict[str, Any]:
    variants: dict[str, Any] = {}
    for n in counts:
        numbers = max(1, NUMBERS_IN_ALL // n)
        cfg = dataclasses.replace(
            base,
            tenants=n,
            numbers=numbers,
            per_number=max(1, total // (n * numbers)),
            scenarios=("rate-0ms",),
            profile=False,
            out=base.out / f"tenants-{n}",
        )
        log(f"outbound tenancy: {n} tenants, {numbers} numbers each, {cfg.per_number} replies per number")
        res = run_outbound(cfg, command)
        s = res["scenarios"]["rate-0ms"]
        sent = s["final"].get("sent", 0) or 1
        cpu = s["cpu_seconds"]
        variants[str(n)] = {
            "tenants": n,
            "numbers": s["numbers"],
            "replies": s["replies"],
            "final": s["final"],
            "sent_per_s": s["sent_per_s"],
            "sender_ms_per_send": 1000 * cpu.get("outbound-sender", 0.0) / sent,
            "postgresql_ms_per_send": 1000 * cpu.get("postgresql", 0.0) / sent,
            "pg_connections_peak": res["pg_connections_peak"],
            "machine_busy_cores": s["machine_busy_cores"],
        }
    first = variants[str(counts[0])]["sent_per_s"]
    for v in variants.values():
        v["ratio"] = v["sent_per_s"] / first if first else 0.0
    out = {"command": command, "service_env": base.service_env, "variants": variants}
    base.out.mkdir(parents=True, exist_ok=True)
    (base.out / "outbound-tenancy.json").write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
    (base.out / "outbound-tenancy.md").write_text(_markdown(out))
    last = variants[str(counts[-1])]
    log(f"outbound tenancy: {counts[-1]}/{counts[0]} tenants send-rate ratio {last['ratio']:.2f}")
    return out


def _markdown(out: dict[str, Any]) -> str:
    lines = [
        "# Outbound-sender over many tenants",
        "",
        f"`{out['command']}`",
        "",
        "| tenants | numbers | replies | final | sent/s | ratio | CPU ms / send: sender | PostgreSQL"
        " | peak PG connections | machine busy cores |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for v in out["variants"].values():
        lines.append(
            f"| {v['tenants']} | {v['numbers']} | {v['replies']} | {v['final']} | {v['sent_per_s']:.0f}"
            f" | {v['ratio']:.2f} | {v['sender_ms_per_send']:.2f} | {v['postgresql_ms_per_send']:.2f}"
            f" | {v['pg_connections_peak']} | {v['machine_busy_cores']:.2f} |"
        )
    return "\n".join([*lines, ""])
