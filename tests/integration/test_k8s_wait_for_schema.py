"""deploy/k8s/base/wait-for-schema.py, the Deployments' init container, against a real catalog.

It must hold a pod while the catalog is missing or behind this code's head, and while a migratable
tenant is below the tenant head without a recorded failure; and let it go once `omni migrate` ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings
from omni_common.tenancy.migrate import migrate_all

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "base" / "wait-for-schema.py"


def _wait(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMNI_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--interval", "0.2", "--timeout", "0.5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_holds_the_pod_until_the_catalog_and_its_tenants_are_migrated(settings: Settings) -> None:
    url = f"{settings.database_url}_k8s"  # a catalog of its own, dropped with the session's databases
    missing = _wait(url)
    assert missing.returncode == 1
    assert "catalog not readable" in missing.stdout
    assert "@" not in missing.stdout  # never the URL (it carries the password)

    await migrate_all(url)
    ready = _wait(url)
    assert (ready.returncode, ready.stdout.strip().splitlines()[-1]) == (0, "schema ready")

    tenant = uuid.uuid4()
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO tenants (id, slug, display_name, db_name, status, schema_revision)"
            " VALUES (%s, %s, 'K8s', %s, 'active', 'older')",
            (tenant, f"k8s-{tenant.hex[:8]}", f"k8s_{tenant.hex[:8]}"),
        )
        behind = _wait(url)
        assert behind.returncode == 1
        assert "1 tenant database(s) below the tenant head" in behind.stdout
        # A tenant whose migration failed is reported by `omni migrate`; it does not hold the release.
        conn.execute("UPDATE tenants SET last_migration_error = 'boom' WHERE id = %s", (tenant,))
        assert _wait(url).returncode == 0
