"""The run's report: results.json, report.md and queue-depth.png in the output directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from bench import cpu


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pipe = results["pipeline"]
    start = pipe["started_at"]
    fig, axes = plt.subplots(3, 1, figsize=(10, 10), sharex=True)
    acks = pipe["acks_per_second"]
    rows = pipe["e2e"]["committed_per_second"]
    axes[0].plot(range(len(acks)), acks, label="webhooks acked /s (deliveries)")
    axes[0].plot(range(len(rows)), rows, label="events committed /s (rows)")
    axes[0].axhline(3300, color="grey", linestyle=":", label="target 3,300 events/s")
    axes[0].set_ylabel("per second")
    axes[0].legend(loc="upper right")
    for queue in ("ingress.raw", "normalizer.events"):
        pts = [(t - start, d.get(queue, 0)) for t, d in pipe["queue_depth"]]
        if pts:
            axes[1].step([p[0] for p in pts], [p[1] for p in pts], where="post", label=queue)
    axes[1].set_ylabel("messages in queue")
    axes[1].legend(loc="upper left")
    axes[1].set_title("queue depth (management API; its stats refresh every 5 s)", fontsize=9)
    groups = sorted({g for _, c in pipe["cpu_timeline"] for g in c})
    for g in groups:
        axes[2].plot(
            [t - start for t, _ in pipe["cpu_timeline"]],
            [c.get(g, 0) for _, c in pipe["cpu_timeline"]],
            label=g,
        )
    axes[2].set_ylabel("CPU cores")
    axes[2].set_xlabel("seconds since the first webhook")
    axes[2].legend(loc="upper right", fontsize=8)
    fig.suptitle(
        f"Resevit Inbox pipeline, {results['config']['tenants']} tenants, {results['machine']['nproc']} cores"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _ms(d: dict[str, float | None], key: str) -> str:
    v = d.get(key)
    return "–" if v is None else f"{v:,.1f}"


def fmt_ms(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def headline(results: dict[str, Any]) -> str:
    """One line: the rate, the product's CPU per event without the load generator's, and the split."""
    pipe = results["pipeline"]
    acc, split = pipe["cpu"], results["split"]
    how = "best of the probes below" if split["chosen_by"] == "probes" else "as given"
    return (
        f"**{pipe['e2e']['events_per_s']:,.0f} events/s** end to end;"
        f" **product CPU {fmt_ms(acc['product_ms_per_event'])} ms/event** (services + RabbitMQ + PostgreSQL,"
        f" load generator and harness excluded); load generator {fmt_ms(acc['loadgen_ms_per_event'])}"
        f" ms/event; split {split['used']} ({how})."
    )


def _cpu_rows(pipe: dict[str, Any]) -> list[str]:
    events = pipe["e2e"]["events_committed"]
    lines = [
        "| process group | counted as | CPU s | cores (avg) | CPU ms / event | peak RSS MiB (largest) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for group, secs in sorted(pipe["cpu_seconds"].items()):
        role = "product" if group in cpu.PRODUCT else "harness"
        role = "part of postgresql" if cpu.is_part(group) else role
        rss = pipe["peak_rss_mib"].get(group)
        lines.append(
            f"| {group} | {role} | {secs:.1f} | {secs / pipe['sampled_seconds']:.2f}"
            f" | {fmt_ms(cpu.per_event_ms(secs, events))} | {'–' if rss is None else f'{rss:.0f}'} |"
        )
    acc = pipe["cpu"]
    harness = sum(acc["harness_cpu_s"].values())
    span = pipe["sampled_seconds"]
    totals = (
        (f"**product** ({', '.join(acc['product_groups'])})", acc["product_cpu_s"], "product_ms_per_event"),
        ("**load generator** (its process and children)", acc["loadgen_cpu_s"], "loadgen_ms_per_event"),
        (f"harness in all ({', '.join(sorted(acc['harness_cpu_s']))})", harness, "harness_ms_per_event"),
    )
    for label, secs, key in totals:
        lines.append(f"| {label} | | {secs:.1f} | {secs / span:.2f} | **{fmt_ms(acc[key])}** | |")
    return lines


def _split_rows(split: dict[str, Any]) -> list[str]:
    if not split["probes"]:
        return []
    lines = [
        "## Split probes (the same bounded load, closed loop; events committed / time to last commit)",
        "",
        "| split | end-to-end events/s | events acked / missing | webhooks/s | s to last commit | probe s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for p in split["probes"]:
        mark = " **(chosen)**" if p["split"] == split["used"] else ""
        lines.append(
            f"| {p['split']}{mark} | {p['events_per_s']:,.0f}"
            f" | {p['events_acked']:,} / {p['events_missing']:,} | {p['webhooks_per_s']:,.0f}"
            f" | {p['seconds_to_last_commit']:.1f} | {p['probe_seconds']:.0f} |"
        )
    return [*lines, ""]


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else "–"


def markdown(results: dict[str, Any]) -> str:
    cfg, m = results["config"], results["machine"]
    pipe = results["pipeline"]
    e2e, http = pipe["e2e"], pipe["http"]
    base = results.get("baselines", {})
    ingress = results.get("ingress_only", {})
    lines = [
        f"# Benchmark run {results['name']}",
        "",
        f"Machine: {m['nproc']} cores, {m['mem_gib']:.0f} GiB; {m['postgresql']}; RabbitMQ {m['rabbitmq']};"
        f" Python {m['python']}.",
        f"Command: `{results['command']}`",
        f"Tenants {cfg['tenants']}; processes: ingress {cfg['ingress_procs']}, router {cfg['router_procs']},"
        f" normalizer {cfg['normalizer_procs']}; offered rate {cfg['rate'] or 'max (closed loop)'},"
        f" {cfg['concurrency']} connections, {cfg['duration']} s.",
        "",
        headline(results),
        "",
        *_split_rows(results["split"]),
        "## Pipeline (webhook -> committed row)",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| webhooks acked (200) | {http['ok']:,} of {http['deliveries']:,} ({http['req_per_s']:,.0f}/s) |",
        f"| events acked / committed / missing | {e2e['events_acked']:,} / {e2e['events_committed']:,}"
        f" / {e2e['events_missing']:,} |",
        f"| **end-to-end events/s** (committed / time to last commit) | **{e2e['events_per_s']:,.0f}** |",
        f"| events/s committed inside the load window | {e2e['events_per_s_in_window']:,.0f} |",
        f"| time to last commit (load window {http['seconds']:.1f} s)"
        f" | {e2e['seconds_to_last_commit']:.1f} s |",
        f"| ack p50 / p99 / p99.9 (ms) | {_ms(http['ack_ms'], 'p50')} / {_ms(http['ack_ms'], 'p99')}"
        f" / {_ms(http['ack_ms'], 'p99.9')} |",
        f"| acks over 1 s | {http['ack_over_1s_share'] * 100:.2f} % |",
        f"| webhook -> row p50 / p99 (ms) | {_ms(e2e['row_ms'], 'p50')} / {_ms(e2e['row_ms'], 'p99')} |",
        f"| peak PostgreSQL connections to the run's DBs | {pipe['pg_connections_peak']} |",
        f"| machine CPU busy (cores, of {m['nproc']}) | {pipe['machine_busy_cores']:.2f} |",
        "",
        *_cpu_rows(pipe),
    ]
    lines += [
        "",
        "## Baselines (same run) and ratios",
        "",
        "| baseline | figure | ack p99 ms |",
        "|---|---:|---:|",
    ]
    for key, label in (("hmac", "bare FastAPI, HMAC only"), ("confirm", "FastAPI, HMAC + confirmed publish")):
        if key in base:
            b = base[key]
            lines.append(f"| {label} | {b['req_per_s']:,.0f} req/s | {_ms(b['ack_ms'], 'p99')} |")
    if ingress:
        lines.append(
            f"| product ingress alone (router/normalizer stopped) | {ingress['req_per_s']:,.0f} req/s"
            f" | {_ms(ingress['ack_ms'], 'p99')} |"
        )
    if "raw_publish" in base:
        lines.append(
            "| raw aio-pika publish, 1,000 confirms in flight"
            f" | {base['raw_publish']['per_second']:,.0f} msg/s | – |"
        )
    if "raw_insert" in base:
        lines.append(
            "| raw PostgreSQL executemany, 100 rows/txn"
            f" | {base['raw_insert']['per_second']:,.0f} rows/s | – |"
        )
    lines += ["", "| ratio | value |", "|---|---:|"]
    conf = base.get("confirm", {}).get("req_per_s")
    hm = base.get("hmac", {}).get("req_per_s")
    lines.append(
        "| product ingress alone / HMAC+confirm baseline (target >= 0.80)"
        f" | {_ratio(ingress.get('req_per_s'), conf)} |"
    )
    lines.append(f"| product ingress alone / HMAC-only baseline | {_ratio(ingress.get('req_per_s'), hm)} |")
    lines.append(f"| pipeline webhooks/s / HMAC+confirm baseline | {_ratio(http['req_per_s'], conf)} |")
    raw_pub = base.get("raw_publish", {}).get("per_second")
    raw_ins = base.get("raw_insert", {}).get("per_second")
    lines.append(f"| end-to-end events/s / raw aio-pika publish | {_ratio(e2e['events_per_s'], raw_pub)} |")
    lines.append(f"| end-to-end events/s / raw PostgreSQL insert | {_ratio(e2e['events_per_s'], raw_ins)} |")
    lines.append(f"| end-to-end events/s / target 3,300 | {e2e['events_per_s'] / 3300:.2f} |")
    lines += ["", "![queue depth, rates and CPU](queue-depth.png)", ""]
    if pipe.get("profiles"):
        lines += ["## py-spy (one process per service, top frames by own samples)", ""]
        for service, top in pipe["profiles"].items():
            lines.append(f"### {service}")
            lines += [f"- {share:.1f} % {frame}" for frame, share in top]
            lines.append("")
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    plot(results, out / "queue-depth.png")
    (out / "report.md").write_text(markdown(results))
