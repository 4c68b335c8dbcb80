"""The tenancy reports: per-server connection peaks and the PostgreSQL CPU split by server."""

from __future__ import annotations

from pathlib import Path

from bench.outbound_tenancy import _markdown
from bench.tenancy import _cpu_ms_per_event, write_md


def _variant(tenants: int, rate: float) -> dict[str, object]:
    return {
        "tenants": tenants,
        "events_acked": 100,
        "events_committed": 100,
        "events_per_s": rate,
        "seconds_to_last_commit": 1.0,
        "row_ms": {"p50": 10, "p99": 20},
        "pg_connections_peak": 30,
        "pg_connections_peak_by_server": {"main": 18, "bench2": 12},
        "pg_sessions_started": 7,
        "cpu_seconds": {
            "normalizer": 0.2,
            "rabbitmq": 0.1,
            "postgresql": 0.1,
            "postgresql@main": 0.06,
            "postgresql@bench2": 0.04,
        },
        "ratio": rate / 100,
    }


def test_the_per_server_split_is_not_counted_twice() -> None:
    services, pg = _cpu_ms_per_event(_variant(10, 100))
    assert (services, pg) == (2.0, 1.0)  # the normalizer alone; the total, not total + parts


def test_the_report_names_each_servers_peak(tmp_path: Path) -> None:
    out = {
        "command": "c",
        "service_env": {},
        "variants": {"10": _variant(10, 100), "1000": _variant(1000, 90)},
    }
    write_md({**out, "ratio": 0.9}, tmp_path / "t.md")
    text = (tmp_path / "t.md").read_text()
    assert "30 (bench2 12, main 18)" in text
    assert "| 7 |" in text
    assert "**0.90**" in text


def test_the_outbound_curve_table() -> None:
    variant = {
        "tenants": 1000,
        "numbers": 1000,
        "replies": 6000,
        "final": {"sent": 6000},
        "sent_per_s": 400.0,
        "ratio": 0.8,
        "sender_ms_per_send": 2.1,
        "postgresql_ms_per_send": 0.7,
        "pg_connections_peak": 26,
        "machine_busy_cores": 1.9,
    }
    text = _markdown({"command": "c", "variants": {"1000": variant}})
    assert "| 1000 | 1000 | 6000 | {'sent': 6000} | 400 | 0.80 | 2.10 | 0.70 | 26 | 1.90 |" in text
