"""The restaurant's time zone (Settings → inbox, table inbox_display of t0008): saved, audited,
refused when unknown, applied to the conversation list over the browser's own zone, per tenant."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import psycopg
import pytest
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from psycopg.rows import dict_row

from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
LATE = datetime(2025, 10, 12, 23, 30, tzinfo=UTC)  # 13 Oct in Berlin, 12 Oct in New York and UTC


def db(
    settings: Settings, tenant: SeededTenant, sql: str, params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    with psycopg.connect(
        libpq_conninfo(settings.database_url, database=tenant.db_name), row_factory=dict_row
    ) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


@pytest.fixture(scope="module")
def tenants(settings: Settings) -> tuple[SeededTenant, SeededTenant]:
    suffix = uuid.uuid4().hex[:6]
    pair = seed(settings, f"zone-a-{suffix}"), seed(settings, f"zone-b-{suffix}")
    for tenant in pair:
        db(
            settings,
            tenant,
            "UPDATE chats SET last_message_at = %s WHERE id = %s",
            (LATE, tenant.chats["whatsapp"]),
        )
    return pair


@pytest.fixture(scope="module")
def http(settings: Settings, tenants: Any) -> Iterator[httpx.Client]:
    with running_inbox(settings, declare=True) as url, httpx.Client(base_url=url, timeout=15) as client:
        yield client


def auth(http: httpx.Client, tenant: SeededTenant) -> dict[str, str]:
    body = {"tenant": tenant.slug, "email": tenant.users["business_owner"], "password": PASSWORD}
    token = http.post("/api/auth/login", json=body).json()["access_token"]
    http.cookies.clear()
    return {"Authorization": f"Bearer {token}"}


def stamp(http: httpx.Client, tenant: SeededTenant, headers: dict[str, str], browser: str | None) -> str:
    cookie = {"Cookie": f"omni_tz={browser}"} if browser else {}  # what static/app.js sets
    html = http.get("/ui/conversations", params={"state": "all"}, headers=headers | cookie).text
    start = html.index(f'data-chat="{tenant.chats["whatsapp"]}"')
    at = html.index('class="conv-when"', start)
    return html[html.index(">", at) + 1 : html.index("</time>", at)]


def test_the_zone_is_saved_audited_and_wins_over_the_browser(
    http: httpx.Client, settings: Settings, tenants: Any
) -> None:
    a, b = tenants
    ha, hb = auth(http, a), auth(http, b)
    assert stamp(http, a, ha, None) == "12 Oct 2025"  # nothing known: UTC
    assert stamp(http, a, ha, "America/New_York") == "12 Oct 2025"
    assert stamp(http, a, ha, "Asia/Tokyo") == "13 Oct 2025"  # the browser's own zone
    assert stamp(http, a, ha, "../../etc/passwd") == "12 Oct 2025"  # garbage: UTC

    refused = http.post("/settings/time-zone", data={"time_zone": "Mars/Olympus"}, headers=ha)
    assert refused.status_code == 303
    err = parse_qs(urlparse(refused.headers["location"]).query)["err"][0]
    assert "Mars/Olympus" in err
    assert "not a time zone" in err
    assert db(settings, a, "SELECT * FROM inbox_display") == []

    saved = http.post("/settings/time-zone", data={"time_zone": "Europe/Berlin"}, headers=ha)
    assert saved.status_code == 303
    assert "Europe/Berlin" in parse_qs(urlparse(saved.headers["location"]).query)["msg"][0]
    assert db(settings, a, "SELECT time_zone FROM inbox_display")[0]["time_zone"] == "Europe/Berlin"
    assert stamp(http, a, ha, "America/New_York") == "13 Oct 2025"  # the restaurant's zone wins
    audit = db(settings, a, "SELECT details FROM audit_log WHERE action = 'display.time_zone_changed'")
    assert [e["details"] for e in audit] == [{"from": None, "to": "Europe/Berlin"}]
    # The other restaurant is untouched.
    assert db(settings, b, "SELECT * FROM inbox_display") == []
    assert stamp(http, b, hb, "America/New_York") == "12 Oct 2025"

    form = http.get("/ui/settings/time-zone", headers=ha).text
    assert '<option value="Europe/Berlin" selected>' in form

    back = http.post("/settings/time-zone", data={"time_zone": ""}, headers=ha)
    assert "own time zone" in parse_qs(urlparse(back.headers["location"]).query)["msg"][0]
    assert stamp(http, a, ha, "America/New_York") == "12 Oct 2025"
