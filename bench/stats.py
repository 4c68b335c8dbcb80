"""Figures from raw samples: percentiles, end-to-end matching, per-second rates."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np


def pct(values: list[float], *qs: float) -> dict[str, float | None]:
    if not values:
        return {f"p{q:g}": None for q in qs}
    arr = np.asarray(values)
    return {f"p{q:g}": float(np.percentile(arr, q)) * 1000 for q in qs}  # milliseconds


def http_phase(load: dict[str, Any]) -> dict[str, Any]:
    """Request rate and ack latency of one load phase."""
    ok = int(load["codes"].get("200", 0))
    return {
        "deliveries": load["deliveries"],
        "ok": ok,
        "codes": load["codes"],
        "seconds": load["elapsed"],
        "req_per_s": ok / load["elapsed"] if load["elapsed"] else 0.0,
        "events_sent": sum(load["events"].values()),
        "events_by_kind": load["events"],
        "ack_ms": pct(load["latencies"], 50, 99, 99.9),
        "ack_over_1s_share": sum(1 for x in load["latencies"] if x > 1.0) / max(1, len(load["latencies"])),
    }


def end_to_end(load: dict[str, Any], rows: dict[str, float]) -> dict[str, Any]:
    """Match every acknowledged event with its committed row."""
    sent: dict[str, float] = load["sent_at"]
    start, window = load["started_at"], load["elapsed"]
    latencies, commit_times = [], []
    for event_id, t_sent in sent.items():
        t_row = rows.get(event_id)
        if t_row is not None:
            latencies.append(t_row - t_sent)
            commit_times.append(t_row)
    last = max(commit_times) if commit_times else start
    per_second = Counter(int(t - start) for t in commit_times)
    in_window = sum(1 for t in commit_times if t <= start + window)
    return {
        "events_acked": len(sent),
        "events_committed": len(commit_times),
        "events_missing": len(sent) - len(commit_times),
        # A few of them by id, to look up in the tenant databases, logs and dead-letter queues.
        "missing_sample": sorted(e for e in sent if e not in rows)[:20],
        "seconds_to_last_commit": last - start,
        "events_per_s": len(commit_times) / (last - start) if last > start else 0.0,
        "events_per_s_in_window": in_window / window if window else 0.0,
        "row_ms": pct(latencies, 50, 99, 99.9),
        "committed_per_second": [per_second.get(s, 0) for s in range(int(last - start) + 1)],
    }
