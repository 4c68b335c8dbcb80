"""account-monitor's /readyz: a standby replica is ready; the leader only while its passes are recent."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from account_monitor.main import MonitorState, health_app

INTERVAL_S = 60.0


def test_readiness_follows_the_leaders_last_pass() -> None:
    state = MonitorState()
    client = TestClient(health_app(state, INTERVAL_S))
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200  # standby: waits for the lock
    state.leader = True
    assert client.get("/readyz").status_code == 200  # just started: the first pass is under way
    state.started_at = time.time() - 3 * INTERVAL_S - 1
    assert client.get("/readyz").status_code == 503  # leader without a pass in three intervals
    state.last_pass_at = time.time() - INTERVAL_S
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    state.last_pass_at = time.time() - 3 * INTERVAL_S - 1
    assert client.get("/readyz").status_code == 503
    state.leader = False  # lost the lock: another replica works now
    assert client.get("/readyz").status_code == 200
    assert "omni_account_monitor_leader" in client.get("/metrics").text
