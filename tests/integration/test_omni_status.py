"""`omni status` shows queues, tenants by status and the accounts that need re-auth."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from pipeline import provision, unique_digits

from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration


def test_status_reports_queues_tenants_and_accounts_needing_reauth(
    settings: Settings, tmp_path: Path
) -> None:
    account = unique_digits()
    tenant = asyncio.run(provision(settings, "statusy", {"instagram": account}))
    with psycopg.connect(libpq_conninfo(settings.database_url, database=tenant.db_name)) as conn:
        conn.execute(
            "UPDATE social_accounts SET status = 'needs_reauth' WHERE external_account_id = %s", (account,)
        )
    env = {
        **os.environ,
        "OMNI_DATABASE_URL": settings.database_url,
        "OMNI_RABBITMQ_URL": settings.rabbitmq_url,
        "OMNI_RETRY_DELAYS_MS": ",".join(map(str, settings.retry_delays_ms)),
        "OMNI_DELIVERY_LIMIT": str(settings.delivery_limit),
    }
    omni = Path(sys.executable).with_name("omni")
    out = subprocess.run(
        [str(omni), "status", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(out.stdout)
    names = {q["name"] for q in report["queues"]}
    assert {"ingress.raw", "ingress.raw.dlq", "normalizer.events", "outbound.commands"} <= names
    assert report["tenants_by_status"].get("active", 0) >= 1
    assert {"tenant": "statusy", "channel": "instagram", "account": account} in report["needs_reauth"]
    (server,) = report["connections"]  # every tenant here lives on the catalog's server
    assert server["server"] == "127.0.0.1:5432"
    assert 0 < server["in_use"] <= server["max_connections"]
    assert server["by_service"].get("status", 0) >= 1  # this very command's tenant connection
    text = subprocess.run(
        [str(omni), "status"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert f"statusy: instagram {account}" in text
    assert "database connections (in use / max, by service):" in text
