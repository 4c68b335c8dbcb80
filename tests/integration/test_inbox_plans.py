"""The inbox API's statements stay on their indexes once PostgreSQL plans them generically.

A user's session runs against a tenant with 20,000 conversations; every statement the inbox sends to
the tenant's database is recorded and its generic plan checked for a scan of a large table
(tests/plan_audit.py). It found the channel-health panel reading every message for an account's
recent failures (fixed by t0005's partial index).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
import pytest
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from plan_audit import fill, generic_plans, recording, scanning

from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration


def _connect(settings: Settings, tenant: SeededTenant) -> psycopg.Connection[Any]:
    return psycopg.connect(libpq_conninfo(settings.database_url, database=tenant.db_name), autocommit=True)


@pytest.fixture(scope="module")
def big_tenant(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, SeededTenant]:
    app_settings = settings.model_copy(update={"media_storage": str(tmp_path_factory.mktemp("media"))})
    tenant = seed(app_settings, f"plans-{uuid.uuid4().hex[:6]}")
    with _connect(settings, tenant) as c:
        fill(c, tenant.id, tenant.accounts["whatsapp"])
    return app_settings, tenant


def test_inbox_statements_use_indexes_on_large_tables(big_tenant: tuple[Settings, SeededTenant]) -> None:
    app_settings, tenant = big_tenant
    with (
        recording(tenant.db_name) as seen,
        running_inbox(app_settings) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        login = http.post(
            "/api/auth/login",
            json={"tenant": tenant.slug, "email": tenant.users["business_owner"], "password": PASSWORD},
        )
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        page = http.get("/api/conversations", headers=auth).json()
        chat = page["items"][0]["id"]
        for path in (
            f"/api/conversations?cursor={page['next_cursor']}",
            "/api/conversations?channel=whatsapp&state=open&assignee=unassigned",
            "/api/conversations?q=Cliente%2012",
            f"/api/conversations/{chat}",
            f"/api/conversations/{chat}/messages",
            f"/api/conversations/{chat}/notes",
            "/api/notifications",
            "/api/channel-health",
        ):
            assert http.get(path, headers=auth).status_code == 200, path
        sent = http.post(f"/api/conversations/{chat}/messages", headers=auth, json={"text": "¡Gracias!"})
        assert sent.status_code == 202, sent.text
        assert http.post(f"/api/conversations/{chat}/read", headers=auth).status_code == 204

    assert len(seen) >= 10, list(seen)
    with _connect(app_settings, tenant) as c:
        plans = generic_plans(c, seen)
    # Search by substring (``q=``: ILIKE '%…%') reads every conversation whatever the plan; an index
    # for it (pg_trgm) would cost every message insert. Known and left as it is: docs/performance.md.
    found = {s: p for s, p in scanning(plans).items() if " ILIKE " not in s}
    assert not found, "\n\n".join(f"{s}\n{p}" for s, p in found.items())
