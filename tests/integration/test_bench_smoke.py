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
    assert (out / "queue-depth.png").stat().st_size > 0
    assert (out / "report.md").read_text().startswith("# Benchmark run")


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
