"""Token lifecycle (issue 20, item 4): the account-monitor renews, warns and re-subscribes, against
the Meta sandbox over a real socket and the tenant's real PostgreSQL database.

Passes run ``check_tenant`` with the same collaborators ``account_monitor.main`` builds (the Graph
client, ``graph_inspector``, ``graph_refresher``, ``subscription_check``), some with a clock moved
forward (the 7-day and 1-day stages of one expiry date); one runs the service itself
(``monitor_pass``). No token may reach a log line.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
import structlog
from health_support import monitor_pass, register_accounts
from inbox_support import SeededTenant, seed
from psycopg.rows import dict_row
from sandbox_server import sandbox
from testenv import APP_SECRET

from meta_sandbox import SandboxConfig
from omni_common.crypto import KeyRing
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.dburl import libpq_conninfo
from omni_common.domain.subscriptions import PAGE_FIELDS
from omni_common.graph import GraphClient
from omni_common.settings import Settings
from omni_common.tenancy.accounts import connect_account, read_token

pytestmark = pytest.mark.integration

APP_ID = "sandbox-app"  # the sandbox's default app id


@pytest.fixture(scope="module")
def meta() -> Iterator[str]:
    with sandbox(SandboxConfig(app_secret=APP_SECRET)) as root:
        yield root


@pytest.fixture
def tenant(settings: Settings, meta: str) -> SeededTenant:
    seeded = seed(settings, f"life-{uuid.uuid4().hex[:6]}")
    register_accounts(meta, seeded)
    return seeded


def _monitor_settings(settings: Settings, meta: str) -> Settings:
    return settings.model_copy(update={"graph_api_url": f"{meta}/v21.0", "meta_app_id": APP_ID})


def _pass(
    settings: Settings,
    meta: str,
    tenant_id: uuid.UUID,
    *,
    at: datetime | None = None,
    subscriptions: bool = True,
) -> Counter[str]:
    """One ``check_tenant`` with main.py's collaborators; ``at``: the monitor's clock."""
    from account_monitor.check import MonitorDeps, check_tenant
    from account_monitor.main import graph_inspector, graph_refresher, subscription_check

    checked = _monitor_settings(settings, meta)

    async def go() -> Counter[str]:
        engine = catalog_engine(checked.database_url)
        registry = TenantEngineRegistry(
            catalog=Catalog(engine), server_url=checked.database_url, connections_per_server=4
        )
        http = httpx.AsyncClient(timeout=15)
        graph = GraphClient(http, checked.graph_api_url)
        deps = MonitorDeps(
            begin=registry.begin,
            keyring=KeyRing.from_strings(checked.encryption_key_list()),
            inspect=graph_inspector(graph, checked.debug_token_credential()),
            warn_days=7,
            clock=(lambda: at) if at is not None else (lambda: datetime.now(UTC)),
            refresh=graph_refresher(graph, checked),
            subscriptions=subscription_check(graph, checked) if subscriptions else None,
        )
        try:
            return await check_tenant(deps, tenant_id)
        finally:
            await http.aclose()
            await registry.close()
            await engine.dispose()

    return asyncio.run(go())


def _query(
    settings: Settings, seeded: SeededTenant, sql: str, params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    conninfo = libpq_conninfo(settings.database_url, database=seeded.db_name)
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def _account(settings: Settings, seeded: SeededTenant, account_id: uuid.UUID) -> dict[str, Any]:
    return _query(settings, seeded, "SELECT * FROM social_accounts WHERE id = %s", (account_id,))[0]


def _notes(
    settings: Settings, seeded: SeededTenant, account_id: uuid.UUID, kind: str
) -> list[dict[str, Any]]:
    return _query(
        settings,
        seeded,
        "SELECT title, body, data, resolved_at FROM notifications WHERE social_account_id = %s AND kind = %s "
        "ORDER BY created_at",
        (account_id, kind),
    )


def _token(settings: Settings, seeded: SeededTenant, account_id: uuid.UUID) -> str:
    async def go() -> str:
        engine = catalog_engine(settings.database_url)
        registry = TenantEngineRegistry(
            catalog=Catalog(engine), server_url=settings.database_url, connections_per_server=2
        )
        try:
            async with registry.begin(seeded.id) as session:
                return await read_token(
                    session,
                    keyring=KeyRing.from_strings(settings.encryption_key_list()),
                    tenant_id=seeded.id,
                    account_id=account_id,
                )
        finally:
            await registry.close()
            await engine.dispose()

    return asyncio.run(go())


def _connect(
    settings: Settings, seeded: SeededTenant, channel: str, external_id: str, token: str, **extra: Any
) -> uuid.UUID:
    """Store ``token`` for an account of the tenant, as a connect would (sealed, catalog claimed)."""

    async def go() -> uuid.UUID:
        engine = catalog_engine(settings.database_url)
        catalog = Catalog(engine)
        registry = TenantEngineRegistry(
            catalog=catalog, server_url=settings.database_url, connections_per_server=2
        )
        try:
            async with registry.begin(seeded.id) as session:
                view = await connect_account(
                    session,
                    catalog=catalog,
                    keyring=KeyRing.from_strings(settings.encryption_key_list()),
                    tenant_id=seeded.id,
                    channel=channel,
                    external_account_id=external_id,
                    token=token,
                    **extra,
                )
                return view.id
        finally:
            await registry.close()
            await engine.dispose()

    return asyncio.run(go())


def _user_token(meta: str, waba: str, *, expires_in_s: int) -> str:
    """A user token granted the WABA, as "Continue with Facebook" stores for a WhatsApp number."""
    scopes = ["whatsapp_business_management", "whatsapp_business_messaging"]
    body = {"kind": "USER", "targets": {s: [waba] for s in scopes}, "expires_in_s": expires_in_s}
    answer = httpx.post(f"{meta}/_sandbox/oauth/tokens", json=body)
    answer.raise_for_status()
    return str(answer.json()["token"])


def _requests(meta: str, path_contains: str) -> list[dict[str, Any]]:
    return httpx.get(f"{meta}/_sandbox/requests", params={"path_contains": path_contains}).json()


def _subscribe_all(meta: str, seeded: SeededTenant) -> None:
    """Our app subscribed to the tenant's Page, Instagram account and WABA, as after a connect."""
    for object_id, fields in (
        (seeded.account_ids["facebook"], list(PAGE_FIELDS)),
        (seeded.account_ids["instagram"], list(PAGE_FIELDS)),
        (seeded.wabas["whatsapp"], []),
    ):
        httpx.post(f"{meta}/_sandbox/subscriptions/{object_id}", json={"fields": fields}).raise_for_status()


def test_a_user_token_near_expiry_is_renewed_and_sealed_again(
    settings: Settings, meta: str, tenant: SeededTenant
) -> None:
    account = tenant.accounts["whatsapp"]
    old = _user_token(meta, tenant.wabas["whatsapp"], expires_in_s=10 * 86400)
    _connect(
        settings, tenant, "whatsapp", tenant.account_ids["whatsapp"], old, waba_id=tenant.wabas["whatsapp"]
    )
    _subscribe_all(meta, tenant)
    with structlog.testing.capture_logs() as events:
        outcome = monitor_pass(settings, meta, tenant.id)  # the service itself: main.py's wiring
    assert outcome["renewed"] == 1
    new = _token(settings, tenant, account)
    assert new != old
    assert new.startswith("EAAU")  # a user token the sandbox issued
    row = _account(settings, tenant, account)
    assert row["token_kind"] == "USER"
    assert row["credentials_hint"] == new[-4:]
    assert row["token_refreshed_at"] is not None
    assert timedelta(days=59) < row["token_expires_at"] - datetime.now(UTC) <= timedelta(days=60)
    # Meta agrees: the stored token is valid for ~60 days.
    debug = httpx.get(
        f"{meta}/v21.0/debug_token",
        params={"input_token": new},
        headers={"Authorization": f"Bearer {APP_ID}|{APP_SECRET}"},
    ).json()["data"]
    assert debug["is_valid"] is True
    assert debug["type"] == "USER"
    audit = _query(
        settings, tenant, "SELECT actor_email, details FROM audit_log WHERE action = 'account.token_renewed'"
    )
    assert [a["actor_email"] for a in audit] == ["system:account-monitor"]
    assert old not in str(audit)
    assert new not in str(audit)
    assert not _notes(settings, tenant, account, "token_expiring")
    logged = str(events)
    assert old not in logged
    assert new not in logged
    assert APP_SECRET not in logged
    # The exchange authenticated with the app's credentials, not with a bearer token.
    exchange = _requests(meta, "oauth/access_token")[-1]
    assert "authorization" not in {k.lower() for k in exchange["headers"]}
    # Renewed: the next pass leaves it alone.
    again = _pass(settings, meta, tenant.id)
    assert again["renewed"] == 0
    assert _token(settings, tenant, account) == new


def test_a_page_token_from_a_long_lived_user_token_is_stored_as_never_expiring(
    settings: Settings, meta: str, tenant: SeededTenant
) -> None:
    person, page = f"person-{uuid.uuid4().hex[:6]}", str(uuid.uuid4().int)[:15]
    httpx.post(
        f"{meta}/_sandbox/people",
        json={"user_id": person, "name": "Olga", "pages": [{"id": page, "name": "Olga's"}]},
    ).raise_for_status()
    scopes = ["pages_show_list", "pages_messaging", "pages_manage_metadata"]
    short = httpx.post(
        f"{meta}/_sandbox/oauth/tokens",
        json={"user_id": person, "targets": {s: [page] for s in scopes}, "expires_in_s": 3600},
    ).json()["token"]
    long = httpx.get(
        f"{meta}/v21.0/oauth/access_token",
        params={
            "grant_type": "fb_exchange_token",
            "client_id": APP_ID,
            "client_secret": APP_SECRET,
            "fb_exchange_token": short,
        },
    ).json()["access_token"]
    pages = httpx.get(
        f"{meta}/v21.0/me/accounts",
        params={"fields": "id,name,access_token"},
        headers={"Authorization": f"Bearer {long}"},
    ).json()["data"]
    page_token = next(p["access_token"] for p in pages if p["id"] == page)
    account = _connect(settings, tenant, "facebook", page, page_token, display_name="Olga's")
    outcome = _pass(settings, meta, tenant.id, subscriptions=False)
    assert outcome["error"] == 0
    row = _account(settings, tenant, account)
    assert row["token_kind"] == "PAGE"
    assert row["token_expires_at"] is None  # debug_token: expires_at 0
    assert row["status"] == "active"
    assert not _notes(settings, tenant, account, "token_expiring")


def test_a_token_that_cannot_be_renewed_warns_seven_days_and_one_day_ahead_once_each(
    settings: Settings, meta: str, tenant: SeededTenant
) -> None:
    account = tenant.accounts["whatsapp"]  # the sandbox's system-user token: we cannot renew it
    expires = int((datetime.now(UTC) + timedelta(days=30)).timestamp())
    httpx.post(
        f"{meta}/_sandbox/tokens", json={"account_id": tenant.account_ids["whatsapp"], "expires_at": expires}
    ).raise_for_status()
    expiry = datetime.fromtimestamp(expires, UTC)
    warned = [
        _pass(settings, meta, tenant.id, at=expiry - ahead, subscriptions=False)["warned"]
        for ahead in (timedelta(days=5), timedelta(days=4), timedelta(hours=20), timedelta(hours=10))
    ]
    assert warned == [1, 0, 1, 0]
    notes = _notes(settings, tenant, account, "token_expiring")
    assert [n["data"]["stage"] for n in notes] == [7, 1]
    assert "expires in 5 days" in notes[0]["title"]
    assert "expires within a day" in notes[1]["title"]
    assert "system user" in notes[0]["body"]  # the next step for this kind of token
    assert str(tenant.accounts["whatsapp"]) not in notes[0]["body"]  # no internal ids
    assert _account(settings, tenant, account)["token_kind"] == "SYSTEM_USER"


def test_a_refused_renewal_warns_the_owner_with_a_next_step(
    settings: Settings, meta: str, tenant: SeededTenant
) -> None:
    account = tenant.accounts["whatsapp"]
    old = _user_token(meta, tenant.wabas["whatsapp"], expires_in_s=3 * 86400)
    httpx.post(f"{meta}/_sandbox/tokens", json={"token": old, "exchangeable": False}).raise_for_status()
    _connect(
        settings, tenant, "whatsapp", tenant.account_ids["whatsapp"], old, waba_id=tenant.wabas["whatsapp"]
    )
    httpx.delete(f"{meta}/_sandbox/requests").raise_for_status()
    with structlog.testing.capture_logs() as events:
        first = _pass(settings, meta, tenant.id, subscriptions=False)
        second = _pass(settings, meta, tenant.id, subscriptions=False)  # within the retry pause
    assert first["renewal_failed"] == 1
    assert second["renewal_failed"] == 0
    assert len(_requests(meta, "oauth/access_token")) == 1
    assert _token(settings, tenant, account) == old
    notes = _notes(settings, tenant, account, "token_expiring")
    assert len(notes) == 1
    assert "expires in 3 days" in notes[0]["title"]
    assert "We tried to renew it and Meta refused" in notes[0]["body"]
    assert "Continue with Facebook" in notes[0]["body"]
    assert notes[0]["data"]["refresh_failed"] is True
    assert old not in str(events)
    assert old not in str(notes)
    assert any(e["event"] == "token_renewal_failed" for e in events)


def test_a_dropped_subscription_is_restored_and_the_owner_told_once(
    settings: Settings, meta: str, tenant: SeededTenant
) -> None:
    _subscribe_all(meta, tenant)
    start = datetime.now(UTC)
    first = _pass(settings, meta, tenant.id, at=start)
    assert first["subscription_ok"] == 3
    # Checks are paced: a pass before the hour is up asks Meta nothing about subscriptions.
    httpx.delete(f"{meta}/_sandbox/requests").raise_for_status()
    assert "subscription_ok" not in _pass(settings, meta, tenant.id, at=start + timedelta(minutes=20))
    assert not _requests(meta, "subscribed_apps")

    page, ig = tenant.account_ids["facebook"], tenant.account_ids["instagram"]
    httpx.delete(f"{meta}/_sandbox/subscriptions/{page}").raise_for_status()  # Meta gave up on us
    httpx.post(f"{meta}/_sandbox/subscriptions/{ig}", json={"fields": ["feed"]}).raise_for_status()
    later = start + timedelta(hours=1)
    with structlog.testing.capture_logs() as events:
        second = _pass(settings, meta, tenant.id, at=later)
    assert second["resubscribed"] == 2
    assert second["subscription_ok"] == 1  # the WABA's was never dropped
    held = httpx.get(f"{meta}/_sandbox/subscriptions").json()
    assert set(PAGE_FIELDS) <= set(held[page])
    assert "messages" in held[ig]
    notes = _notes(settings, tenant, tenant.accounts["facebook"], "subscription_restored")
    assert len(notes) == 1
    assert notes[0]["body"].startswith(
        f"Meta had stopped sending Messenger messages of {tenant.slug} facebook; reconnected at {later:%H:%M}"
    )
    assert len(_notes(settings, tenant, tenant.accounts["instagram"], "subscription_restored")) == 1
    audit = _query(settings, tenant, "SELECT details FROM audit_log WHERE action = 'account.resubscribed'")
    assert len(audit) == 2
    third = _pass(settings, meta, tenant.id, at=later + timedelta(hours=1))
    assert third["subscription_ok"] == 3
    assert third["resubscribed"] == 0
    assert len(_notes(settings, tenant, tenant.accounts["facebook"], "subscription_restored")) == 1
    tokens = [_token(settings, tenant, tenant.accounts[c]) for c in ("whatsapp", "facebook", "instagram")]
    assert not any(t in str(events) for t in tokens)


def test_a_subscription_that_cannot_be_restored_tells_the_owner_what_to_do_once(
    settings: Settings, meta: str, tenant: SeededTenant
) -> None:
    _subscribe_all(meta, tenant)
    waba = tenant.wabas["whatsapp"]
    # A user token granted the WABA's messages but not its management: it cannot subscribe.
    body = {"kind": "USER", "targets": {"whatsapp_business_messaging": [waba]}, "expires_in_s": 50 * 86400}
    token = httpx.post(f"{meta}/_sandbox/oauth/tokens", json=body).json()["token"]
    account = _connect(settings, tenant, "whatsapp", tenant.account_ids["whatsapp"], token, waba_id=waba)
    httpx.delete(f"{meta}/_sandbox/subscriptions/{waba}").raise_for_status()
    start = datetime.now(UTC)
    first = _pass(settings, meta, tenant.id, at=start)
    second = _pass(settings, meta, tenant.id, at=start + timedelta(hours=1))
    assert first["resubscribe_failed"] == 1
    assert second["resubscribe_failed"] == 1  # tried again at the next check
    lost = _notes(settings, tenant, account, "subscription_lost")
    assert len(lost) == 1  # told once while it stays lost
    assert "Continue with Facebook" in lost[0]["body"]
    # The owner reconnects (the subscription comes back): the notice is resolved at the next check.
    httpx.post(f"{meta}/_sandbox/subscriptions/{waba}", json={"fields": []}).raise_for_status()
    third = _pass(settings, meta, tenant.id, at=start + timedelta(hours=2))
    assert third["subscription_ok"] == 3
    assert _notes(settings, tenant, account, "subscription_lost")[0]["resolved_at"] is not None


def test_a_renewed_token_keeps_the_numbers_pin(settings: Settings, tenant: SeededTenant) -> None:
    """Embedded Signup seals a two-step PIN with a WhatsApp number's user token; the monitor's renewal
    replaces the token only."""
    from omni_common.tenancy.accounts import read_pin, store_renewed_token

    ring = KeyRing.from_strings(settings.encryption_key_list())

    async def go() -> tuple[str | None, str]:
        engine = catalog_engine(settings.database_url)
        registry = TenantEngineRegistry(
            catalog=Catalog(engine), server_url=settings.database_url, connections_per_server=2
        )
        number = f"pin{uuid.uuid4().int % 10**12}"
        try:
            async with registry.begin(tenant.id) as session:
                view = await connect_account(
                    session,
                    catalog=Catalog(engine),
                    keyring=ring,
                    tenant_id=tenant.id,
                    channel="whatsapp",
                    external_account_id=number,
                    token="EAAold-user-token",
                    waba_id="waba-pin",
                    pin="123456",
                )
            async with registry.begin(tenant.id) as session:
                now = datetime.now(UTC)
                await store_renewed_token(
                    session,
                    keyring=ring,
                    tenant_id=tenant.id,
                    account_id=view.id,
                    token="EAAnew-user-token",
                    expires_at=now + timedelta(days=60),
                    now=now,
                )
            async with registry.begin(tenant.id) as session:
                pin = await read_pin(
                    session, keyring=ring, tenant_id=tenant.id, channel="whatsapp", external_account_id=number
                )
                token = await read_token(session, keyring=ring, tenant_id=tenant.id, account_id=view.id)
            return pin, token
        finally:
            await registry.close()
            await engine.dispose()

    assert asyncio.run(go()) == ("123456", "EAAnew-user-token")
