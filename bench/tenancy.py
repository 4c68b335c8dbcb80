"""``python -m bench tenancy``: the same inbound load over 10 and over 1,000 tenants, back to back.

Each variant is a full ``bench run`` (own catalog database and vhost, removed at its end) without the
baselines and the ingress-alone phase. The same bounded load (``--max-deliveries`` at ``--rate``) goes
to both, so the ratio of their end-to-end rates and their peak PostgreSQL connections compare like for
like on a shared machine.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson

from bench import cpu
from bench.config import BenchConfig
from bench.pipeline import log
from bench.run import run


def run_tenancy(base: BenchConfig, counts: list[int], command: str, shards: int = 0) -> dict[str, Any]:
    """Each count once; with ``shards``, each count twice, unsharded then with that many tenant shards
    (``OMNI_NORMALIZER_SHARDS``), each ratio against the first count's run of its own mode."""
    if shards:
        return run_tenancy_sharded(base, counts, command, shards)
    variants: dict[str, Any] = {}
    for n in counts:
        cfg = dataclasses.replace(base, tenants=n, out=base.out / f"tenants-{n}")
        log(f"tenancy variant: {n} tenants")
        variants[str(n)] = _variant(n, run(cfg, command))
    return _write(base, counts, command, variants)


def run_tenancy_sharded(base: BenchConfig, counts: list[int], command: str, shards: int) -> dict[str, Any]:
    """``--shards N``: per count, the unsharded pipeline and the sharded one, back to back."""
    variants: dict[str, Any] = {}
    for n in counts:
        for mode, extra in (("unsharded", {}), (f"{shards} shards", {"OMNI_NORMALIZER_SHARDS": str(shards)})):
            suffix = "" if not extra else f"-shards-{shards}"
            cfg = dataclasses.replace(
                base,
                tenants=n,
                out=base.out / f"tenants-{n}{suffix}",
                service_env={**base.service_env, **extra},
            )
            log(f"tenancy variant: {n} tenants, {mode}")
            variants[f"{n}{suffix}"] = {**_variant(n, run(cfg, command)), "mode": mode}
    return _write(base, counts, command, variants)


def _variant(n: int, res: dict[str, Any]) -> dict[str, Any]:
    pipe = res["pipeline"]
    return {
        "tenants": n,
        "events_acked": pipe["e2e"]["events_acked"],
        "events_committed": pipe["e2e"]["events_committed"],
        "events_missing": pipe["e2e"]["events_missing"],
        "events_per_s": pipe["e2e"]["events_per_s"],
        "seconds_to_last_commit": pipe["e2e"]["seconds_to_last_commit"],
        "row_ms": pipe["e2e"]["row_ms"],
        "webhooks_per_s": pipe["acks_per_second"],
        "pg_connections_peak": pipe["pg_connections_peak"],
        "pg_connections_peak_by_server": pipe.get("pg_connections_peak_by_server", {}),
        "pg_sessions_started": sum(pipe.get("pg_sessions_started_by_server", {}).values()),
        "profiles": pipe.get("profiles", {}),
        "drain_wait_s": pipe["drain_wait_s"],
        "cpu_seconds": pipe["cpu_seconds"],
    }


def _write(base: BenchConfig, counts: list[int], command: str, variants: dict[str, Any]) -> dict[str, Any]:
    # Each variant against the first count's run of the same mode (key suffix), same invocation.
    for key, v in variants.items():
        first_of_mode = variants[str(counts[0]) + key.removeprefix(str(v["tenants"]))]
        base_rate = first_of_mode["events_per_s"]
        v["ratio"] = v["events_per_s"] / base_rate if base_rate else 0.0
    sharded = [k for k in variants if k.startswith(f"{counts[-1]}-shards-")]
    if sharded:
        log(f"tenancy: {counts[-1]}/{counts[0]} tenants sharded ratio {variants[sharded[0]]['ratio']:.2f}")
    first, last = variants[str(counts[0])], variants[str(counts[-1])]
    out = {
        "command": command,
        "service_env": base.service_env,
        "variants": variants,
        "ratio": last["events_per_s"] / first["events_per_s"] if first["events_per_s"] else 0.0,
    }
    base.out.mkdir(parents=True, exist_ok=True)
    (base.out / "tenancy.json").write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
    write_md(out, base.out / "tenancy.md")
    log(f"tenancy: {counts[-1]}/{counts[0]} tenants throughput ratio {out['ratio']:.2f}")
    return out


def _cpu_ms_per_event(variant: dict[str, Any]) -> tuple[float, float]:
    """CPU per committed event: our three services together (servers and harness aside), and every
    PostgreSQL process."""
    committed = variant["events_committed"] or 1
    cpu_s: dict[str, float] = variant["cpu_seconds"]
    return 1000 * cpu.services_seconds(cpu_s) / committed, 1000 * cpu_s.get("postgresql", 0.0) / committed


def write_md(out: dict[str, Any], path: Path) -> None:
    lines = [
        "# Tenancy scale",
        "",
        f"`{out['command']}`",
        "",
        f"Service settings: {out['service_env'] or 'defaults'}",
        "",
        "| tenants | mode | events acked | committed | end-to-end events/s | ratio | s to last commit"
        " | row p50 / p99 ms | peak PG connections | PG sessions started | CPU ms / event: services"
        " | PostgreSQL | per service |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for v in out["variants"].values():
        row = v["row_ms"]
        services, pg = _cpu_ms_per_event(v)
        committed = v["events_committed"] or 1
        per_service = ", ".join(
            f"{g} {1000 * s / committed:.2f}" for g, s in sorted(v["cpu_seconds"].items())
        )
        by_server = v.get("pg_connections_peak_by_server") or {}
        peak = str(v["pg_connections_peak"])
        if len(by_server) > 1:
            peak += " (" + ", ".join(f"{name} {n}" for name, n in sorted(by_server.items())) + ")"
        lines.append(
            f"| {v['tenants']} | {v.get('mode', '-')} | {v['events_acked']} | {v['events_committed']}"
            f" | {v['events_per_s']:.0f} | {v.get('ratio', 0.0):.2f}"
            f" | {v['seconds_to_last_commit']:.1f} | {row.get('p50') or 0:.0f} / {row.get('p99') or 0:.0f}"
            f" | {peak} | {v.get('pg_sessions_started', '-')} | {services:.2f} | {pg:.2f} | {per_service} |"
        )
    lines += ["", f"Throughput ratio (last / first): **{out['ratio']:.2f}**", ""]
    path.write_text("\n".join(lines))
