"""The benchmark harness still runs end to end (smoke mode); no timed assertion, only that figures exist."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_bench_smoke_completes_and_reports(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="needs the bench extra: pip install -e '.[bench]'")
    out = tmp_path / "smoke"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "smoke", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = orjson.loads((out / "results.json").read_bytes())
    pipeline = results["pipeline"]
    assert pipeline["http"]["ok"] > 0
    assert pipeline["e2e"]["events_committed"] > 0
    assert pipeline["e2e"]["events_per_s"] > 0
    assert pipeline["http"]["ack_ms"]["p99"] is not None
    assert set(results["baselines"]) == {"raw_insert", "raw_publish", "hmac", "confirm"}
    # The product's CPU apart from the load generator's and the harness's (stub, the bench itself).
    acc = pipeline["cpu"]
    assert acc["product_ms_per_event"] > 0
    assert acc["loadgen_cpu_s"] > 0
    assert {"loadgen", "graph-stub", "bench"} <= set(acc["harness_cpu_s"])
    assert results["split"]["used"] == "ingress=1,router=1,normalizer=1"
    assert (out / "queue-depth.png").stat().st_size > 0
    report = (out / "report.md").read_text()
    assert report.startswith("# Benchmark run")
    assert "load generator and harness excluded" in report


def test_bench_writepath_runs_the_normalizers_write_path() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "writepath",
            "--tenants",
            "2",
            "--deliveries",
            "60",
            "--batch",
            "1,5",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith(("| 1 |", "| 5 |"))]
    assert len(rows) == 2, proc.stdout
    assert "events not written (dead-lettered or failed): 0" in proc.stdout
