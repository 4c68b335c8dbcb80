"""Channel health (issue 9): the health panel, the token monitor, staff reactions and account audit.

Real ingress, router, normalizer and outbound-sender threads on one topology for this module, the
Meta sandbox (a real HTTP server) wired to the ingress, and the inbox app on a free port.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
import structlog
from health_support import monitor_pass, register_accounts, sandbox_with_sender
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from pipeline import Pipeline, running_pipeline, unique_digits, wait_until
from psycopg.rows import dict_row
from typer.testing import CliRunner

from omni_cli.main import app as cli
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"health-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def other(settings: Settings) -> SeededTenant:
    return seed(settings, f"healthb-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def pipe(settings: Settings) -> Iterator[Pipeline]:
    with running_pipeline(settings) as p:  # declares this module's topology once
        yield p


@pytest.fixture(scope="module")
def meta(settings: Settings, pipe: Pipeline, tenant: SeededTenant, other: SeededTenant) -> Iterator[str]:
    """The sandbox knowing both tenants' accounts, and a sender replying through it."""
    with sandbox_with_sender(settings, pipe.topology, tenant, other, ingress_url=pipe.ingress_url) as root:
        yield root


@pytest.fixture(scope="module")
def inbox_url(settings: Settings, pipe: Pipeline, meta: str) -> Iterator[str]:
    with running_inbox(settings, declare=False) as url:
        yield url


@contextmanager
def _client(url: str, seeded: SeededTenant, role: str = "business_owner") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=20) as client:
        login = client.post(
            "/api/auth/login",
            json={"tenant": seeded.slug, "email": seeded.users[role], "password": PASSWORD},
        )
        assert login.status_code == 200, login.text
        client.cookies.clear()
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        yield client


@pytest.fixture(scope="module")
def owner(inbox_url: str, tenant: SeededTenant) -> Iterator[httpx.Client]:
    with _client(inbox_url, tenant) as client:
        yield client


@pytest.fixture(scope="module")
def outsider(inbox_url: str, other: SeededTenant) -> Iterator[httpx.Client]:
    with _client(inbox_url, other, "manager") as client:
        yield client


def _query(settings: Settings, db_name: str, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with psycopg.connect(libpq_conninfo(settings.database_url, database=db_name), row_factory=dict_row) as c:
        return c.execute(sql, params).fetchall()


def _message(client: httpx.Client, chat_id: uuid.UUID, message_id: str) -> dict[str, Any] | None:
    listed = client.get(f"/api/conversations/{chat_id}/messages", params={"mark_read": False}).json()
    return next((m for m in listed if m["id"] == message_id), None)


def test_a_sandbox_send_failure_shows_on_the_health_panel_in_plain_words(
    owner: httpx.Client, meta: str, tenant: SeededTenant
) -> None:
    account = tenant.account_ids["whatsapp"]
    httpx.post(
        f"{meta}/_sandbox/faults", json={"error_code": 131026, "match": {"account_id": account}}
    ).raise_for_status()
    chat = tenant.chats["whatsapp"]
    sent = owner.post(f"/api/conversations/{chat}/messages", json={"text": "Your table is ready"})
    assert sent.status_code == 202, sent.text
    failed = wait_until(
        lambda: (m := _message(owner, chat, sent.json()["id"])) and m["status"] == "failed" and m,
        what="reply failed by the sandbox",
    )
    assert failed["error_code"] == "131026"

    health = owner.get(f"/api/social-accounts/{tenant.accounts['whatsapp']}/health")
    assert health.status_code == 200
    panel = health.json()
    assert panel["status"] == "active"
    assert "Working" in panel["status_text"]
    assert panel["recent_failures"][0]["reason"] == "the customer cannot receive messages"
    assert panel["recent_failures"][0]["conversation_id"] == str(chat)
    assert "token-" not in health.text  # never the token, not even a hint of it
    listed = {h["id"]: h for h in owner.get("/api/channel-health").json()}
    assert set(listed) == {str(a) for a in tenant.accounts.values()}
    assert listed[str(tenant.accounts["whatsapp"])]["recent_failures"]
    page = owner.get("/ui/channel-health")
    assert "the customer cannot receive messages" in page.text


def test_a_staff_reaction_reaches_the_sandbox_in_metas_shape(
    settings: Settings, owner: httpx.Client, meta: str, tenant: SeededTenant
) -> None:
    chat, target = tenant.chats["whatsapp"], tenant.messages["whatsapp"]
    answer = owner.post(f"/api/conversations/{chat}/messages/{target}/reactions", json={"emoji": "👍"})
    assert answer.status_code == 202, answer.text
    assert answer.json()["kind"] == "reaction"

    def reaction_request() -> dict[str, Any] | None:
        for r in httpx.get(f"{meta}/_sandbox/requests", params={"path_contains": "/messages"}).json():
            body = r.get("json") or {}
            if body.get("type") == "reaction" and r["path"].endswith(
                f"/{tenant.account_ids['whatsapp']}/messages"
            ):
                return body
        return None

    body = wait_until(reaction_request, what="reaction sent to the sandbox")
    assert body["messaging_product"] == "whatsapp"
    assert body["to"] == "+" + tenant.contacts["whatsapp"]
    assert body["reaction"]["emoji"] == "👍"
    assert body["reaction"]["message_id"].startswith("ext-")
    assert "context" not in body
    # The staff reaction shows on its target message, like a customer's does.
    listed = owner.get(f"/api/conversations/{chat}/messages").json()
    assert next(m for m in listed if m["id"] == str(target))["reactions"] == ["👍"]
    assert answer.json()["id"] not in {m["id"] for m in listed}
    # Who reacted is in the audit trail, like a reply.
    entries = _query(
        settings,
        tenant.db_name,
        "SELECT actor_email, target_id, details FROM audit_log WHERE action = 'reaction.sent' "
        "AND details->>'message_id' = %s",
        (answer.json()["id"],),
    )
    assert [(e["actor_email"], e["target_id"]) for e in entries] == [
        (tenant.users["business_owner"], str(chat))
    ]
    assert entries[0]["details"]["emoji"] == "👍"
    assert entries[0]["details"]["reacted_to"] == str(target)


def test_the_conversation_view_offers_reactions_on_whatsapp_only(
    owner: httpx.Client, meta: str, tenant: SeededTenant
) -> None:
    chat, target = tenant.chats["whatsapp"], tenant.messages["whatsapp"]
    fragment = owner.get(f"/ui/conversations/{chat}")
    assert f"/messages/{target}/reactions" in fragment.text
    other = owner.get(f"/ui/conversations/{tenant.chats['facebook']}")
    assert "/reactions" not in other.text
    answer = owner.post(f"/ui/conversations/{chat}/messages/{target}/reactions", data={"emoji": "❤️"})
    assert answer.status_code == 200
    assert 'class="reactions"' in answer.text
    # The latest reaction of the same staff member replaces the earlier one, as on WhatsApp.
    listed = owner.get(f"/api/conversations/{chat}/messages").json()
    assert next(m for m in listed if m["id"] == str(target))["reactions"] == ["❤️"]


def test_reactions_are_refused_on_messenger_and_instagram(
    owner: httpx.Client, meta: str, tenant: SeededTenant
) -> None:
    for channel in ("facebook", "instagram"):
        chat, target = tenant.chats[channel], tenant.messages[channel]
        answer = owner.post(f"/api/conversations/{chat}/messages/{target}/reactions", json={"emoji": "👍"})
        assert answer.status_code == 422
        assert answer.json()["reason"] == "reactions_unsupported"
        assert "WhatsApp" in answer.json()["detail"]
    assert (
        owner.post(
            f"/api/conversations/{tenant.chats['whatsapp']}/messages/{tenant.messages['whatsapp']}/reactions",
            json={"emoji": "ok"},
        ).status_code
        == 422
    )


def test_new_endpoints_keep_tenants_apart(
    owner: httpx.Client, outsider: httpx.Client, tenant: SeededTenant, other: SeededTenant
) -> None:
    assert outsider.get(f"/api/social-accounts/{tenant.accounts['whatsapp']}/health").status_code == 404
    theirs = {h["id"] for h in outsider.get("/api/channel-health").json()}
    assert theirs == {str(a) for a in other.accounts.values()}
    page = outsider.get("/ui/channel-health").text
    assert not any(ext in page for ext in tenant.account_ids.values())
    assert all(ext in page for ext in other.account_ids.values())
    react = outsider.post(
        f"/api/conversations/{tenant.chats['whatsapp']}/messages/{tenant.messages['whatsapp']}/reactions",
        json={"emoji": "👍"},
    )
    assert react.status_code == 404
    # Their own conversation, but our message id: no such message there.
    mixed = outsider.post(
        f"/api/conversations/{other.chats['whatsapp']}/messages/{tenant.messages['whatsapp']}/reactions",
        json={"emoji": "👍"},
    )
    assert mixed.status_code == 404
    assert httpx.get(f"{owner.base_url}/api/channel-health").status_code == 401


def _audit(settings: Settings, db_name: str, external_id: str) -> list[tuple[str, str | None]]:
    rows = _query(
        settings,
        db_name,
        "SELECT action, actor_email FROM audit_log WHERE details->>'external_account_id' = %s ORDER BY id",
        (external_id,),
    )
    return [(r["action"], r["actor_email"]) for r in rows]


def test_account_actions_in_the_api_are_audited(
    settings: Settings, owner: httpx.Client, tenant: SeededTenant
) -> None:
    page = unique_digits()
    made = owner.post(
        "/api/social-accounts",
        json={"channel": "facebook", "external_account_id": page, "token": "EAAfirst-token"},
    )
    assert made.status_code == 201, made.text
    account = made.json()["id"]
    assert (
        owner.patch(f"/api/social-accounts/{account}", json={"token": "EAAsecond-token"}).status_code == 200
    )
    assert owner.patch(f"/api/social-accounts/{account}", json={"enabled": False}).status_code == 200
    assert owner.patch(f"/api/social-accounts/{account}", json={"enabled": True}).status_code == 200
    again = owner.post(
        "/api/social-accounts",
        json={"channel": "facebook", "external_account_id": page, "token": "EAAthird-token"},
    )
    assert again.status_code == 201
    email = tenant.users["business_owner"]
    assert _audit(settings, tenant.db_name, page) == [
        ("account.connected", email),
        ("account.token_replaced", email),
        ("account.disabled", email),
        ("account.enabled", email),
        ("account.token_replaced", email),
    ]
    details = _query(settings, tenant.db_name, "SELECT details::text AS d FROM audit_log")
    assert not any("EAA" in r["d"] for r in details)  # tokens never reach the audit trail


def _account_row(settings: Settings, db_name: str, account_id: str) -> dict[str, Any]:
    return _query(
        settings,
        db_name,
        "SELECT display_name, status, last_error_code, token_expires_at, "
        "(SELECT count(*) FROM notifications n WHERE n.social_account_id = a.id AND n.resolved_at IS NULL) "
        "AS open_notices FROM social_accounts a WHERE id = %s",
        (account_id,),
    )[0]


def test_a_rename_keeps_a_needs_reauth_account_flagged_and_a_new_token_clears_it(
    settings: Settings, owner: httpx.Client, tenant: SeededTenant
) -> None:
    page = unique_digits()
    made = owner.post(
        "/api/social-accounts",
        json={"channel": "facebook", "external_account_id": page, "token": "EAArename-token-1"},
    )
    account = made.json()["id"]
    expiry = datetime.now(UTC) + timedelta(days=2)
    # What the monitor leaves behind for a refused token: the flag, Meta's code, the expiry it read
    # earlier and the owner's notification.
    _query(
        settings,
        tenant.db_name,
        "UPDATE social_accounts SET status = 'needs_reauth', last_error_code = '190', "
        "last_error_message = 'expired', token_expires_at = %s WHERE id = %s RETURNING id",
        (expiry, account),
    )
    _query(
        settings,
        tenant.db_name,
        "INSERT INTO notifications (kind, severity, title, social_account_id) "
        "VALUES ('token_expired', 'error', 'Messenger connection needs attention', %s) RETURNING id",
        (account,),
    )
    renamed = owner.patch(f"/api/social-accounts/{account}", json={"display_name": "  Terrace page "})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["status"] == "needs_reauth"
    assert renamed.json()["display_name"] == "Terrace page"
    row = _account_row(settings, tenant.db_name, account)
    assert row == {
        "display_name": "Terrace page",
        "status": "needs_reauth",
        "last_error_code": "190",
        "token_expires_at": expiry,
        "open_notices": 1,
    }
    entries = _query(
        settings,
        tenant.db_name,
        "SELECT action, details FROM audit_log WHERE target_id = %s ORDER BY id",
        (account,),
    )
    assert [e["action"] for e in entries] == ["account.connected", "account.renamed"]
    assert entries[-1]["details"]["previous"] is None
    assert entries[-1]["details"]["name"] == "Terrace page"

    # A new token is what makes it healthy: the old token's error, expiry and notice go.
    replaced = owner.patch(f"/api/social-accounts/{account}", json={"token": "EAArename-token-2"})
    assert replaced.json()["status"] == "active"
    assert _account_row(settings, tenant.db_name, account) == {
        "display_name": "Terrace page",
        "status": "active",
        "last_error_code": None,
        "token_expires_at": None,
        "open_notices": 0,
    }


def test_account_actions_in_the_cli_are_audited(
    settings: Settings, tenant: SeededTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNI_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OMNI_ENCRYPTION_KEYS", settings.encryption_keys.get_secret_value())
    monkeypatch.setenv("OMNI_ENV", "development")  # --no-verify is a development-only bypass
    saved = structlog.get_config()
    runner = CliRunner()
    page = unique_digits()
    base = ["account", "connect", tenant.slug, "facebook", "--page-id", page, "--no-verify"]
    try:
        for argv in (
            [*base, "--token", "EAAcli-token-one"],
            [*base, "--token", "EAAcli-token-two"],
            ["account", "disable", tenant.slug, "facebook", page],
            ["account", "enable", tenant.slug, "facebook", page],
        ):
            result = runner.invoke(cli, argv)
            assert result.exit_code == 0, result.output
    finally:
        structlog.configure(**saved)
    assert _audit(settings, tenant.db_name, page) == [
        ("account.connected", "system:cli"),
        ("account.token_replaced", "system:cli"),
        ("account.disabled", "system:cli"),
        ("account.enabled", "system:cli"),
    ]


# --- the token monitor -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def watched(settings: Settings, meta: str) -> SeededTenant:
    """A tenant of its own for the monitor, its accounts known to the sandbox."""
    seeded = seed(settings, f"watch-{uuid.uuid4().hex[:6]}")
    register_accounts(meta, seeded)
    return seeded


def _notes(settings: Settings, seeded: SeededTenant, channel: str, kind: str) -> list[dict[str, Any]]:
    return _query(
        settings,
        seeded.db_name,
        "SELECT title, body, data FROM notifications WHERE social_account_id = %s AND kind = %s",
        (seeded.accounts[channel], kind),
    )


def test_a_token_expiring_in_3_days_warns_the_owner_once_across_two_runs(
    settings: Settings, meta: str, watched: SeededTenant, inbox_url: str
) -> None:
    account = watched.account_ids["whatsapp"]
    httpx.post(
        f"{meta}/_sandbox/tokens", json={"account_id": account, "expires_in_s": 3 * 86400}
    ).raise_for_status()
    first = monitor_pass(settings, meta, watched.id)
    second = monitor_pass(settings, meta, watched.id)
    assert first["warned"] == 1
    assert second["warned"] == 0
    notes = _notes(settings, watched, "whatsapp", "token_expiring")
    assert len(notes) == 1
    assert "expires in 3 days" in notes[0]["title"]
    stored = _query(
        settings,
        watched.db_name,
        "SELECT token_expires_at FROM social_accounts WHERE id = %s",
        (watched.accounts["whatsapp"],),
    )[0]["token_expires_at"]
    assert timedelta(days=2, hours=23) < stored - datetime.now(UTC) <= timedelta(days=3)
    with _client(inbox_url, watched) as client:
        panel = client.get(f"/api/social-accounts/{watched.accounts['whatsapp']}/health").json()
    assert panel["token_expires_at"] is not None
    assert "expires in 3 days" in panel["token_warning"]
    debug = httpx.get(f"{meta}/_sandbox/requests", params={"path_contains": "debug_token"}).json()
    assert all(r["headers"]["authorization"].startswith("Bearer sandbox-app|") for r in debug)


def test_an_invalid_token_flips_to_needs_reauth_once_and_inbound_keeps_being_stored(
    settings: Settings, meta: str, watched: SeededTenant
) -> None:
    account = watched.account_ids["facebook"]
    httpx.post(f"{meta}/_sandbox/tokens", json={"account_id": account, "valid": False}).raise_for_status()
    first = monitor_pass(settings, meta, watched.id)
    second = monitor_pass(settings, meta, watched.id)
    assert first["needs_reauth"] == 1
    assert second["needs_reauth"] == 0
    status = _query(
        settings,
        watched.db_name,
        "SELECT status, last_error_code FROM social_accounts WHERE id = %s",
        (watched.accounts["facebook"],),
    )[0]
    assert status == {"status": "needs_reauth", "last_error_code": "190"}
    assert len(_notes(settings, watched, "facebook", "token_expired")) == 1

    customer = unique_digits()
    answer = httpx.post(
        f"{meta}/_sandbox/simulate/inbound",
        json={"channel": "facebook", "account_id": account, "from": customer, "text": "Still open tonight?"},
    ).json()
    assert answer["status_code"] == 200
    wait_until(
        lambda: _query(
            settings,
            watched.db_name,
            "SELECT 1 FROM chat_messages WHERE external_message_id = %s",
            (answer["message_id"],),
        ),
        what="inbound message stored while the account needs re-auth",
    )


def test_only_one_monitor_replica_holds_the_lock(settings: Settings) -> None:
    from account_monitor.lock import LeaderLock

    async def go() -> tuple[bool, bool, bool, bool]:
        first, second = LeaderLock(settings.database_url), LeaderLock(settings.database_url)
        try:
            a = await first.acquire()
            b = await second.acquire()
            again = await first.acquire()  # the holder keeps it
            await first.release()
            takeover = await second.acquire()
            return a, b, again, takeover
        finally:
            await first.release()
            await second.release()

    assert asyncio.run(go()) == (True, False, True, True)


def test_a_token_replaced_while_it_is_checked_is_not_flagged_by_the_old_answer(settings: Settings) -> None:
    from account_monitor.check import MonitorDeps, check_tenant
    from omni_common.crypto import KeyRing
    from omni_common.db.catalog import Catalog, catalog_engine
    from omni_common.db.registry import TenantEngineRegistry
    from omni_common.tenancy.accounts import connect_account
    from omni_common.tenancy.token_expiry import TokenCheck

    seeded = seed(settings, f"race-{uuid.uuid4().hex[:6]}")
    old_token = f"token-{seeded.account_ids['instagram']}"

    async def go() -> Counter[str]:
        engine = catalog_engine(settings.database_url)
        catalog = Catalog(engine)
        registry = TenantEngineRegistry(
            catalog=catalog, server_url=settings.database_url, connections_per_server=4
        )
        keyring = KeyRing.from_strings(settings.encryption_key_list())

        async def inspect(token: str) -> TokenCheck:
            if token != old_token:
                return TokenCheck(is_valid=True, expires_at=None)
            # The owner saves a new token while Meta is still being asked about the old one,
            # and Meta's answer (about the old token) is "expired".
            async with registry.begin(seeded.id) as session:
                await connect_account(
                    session,
                    catalog=catalog,
                    keyring=keyring,
                    tenant_id=seeded.id,
                    channel="instagram",
                    external_account_id=seeded.account_ids["instagram"],
                    token="EAAnew-valid-token",
                )
            return TokenCheck(is_valid=False, expires_at=None, error_code=190, error_message="expired")

        deps = MonitorDeps(
            begin=registry.begin,
            keyring=keyring,
            inspect=inspect,
            warn_days=7,
            clock=lambda: datetime.now(UTC),
        )
        try:
            return await check_tenant(deps, seeded.id)
        finally:
            await registry.close()
            await engine.dispose()

    assert asyncio.run(go()) == Counter(ok=2, changed=1)
    row = _query(
        settings,
        seeded.db_name,
        "SELECT status, last_error_code, credentials_hint FROM social_accounts WHERE id = %s",
        (seeded.accounts["instagram"],),
    )[0]
    assert row == {"status": "active", "last_error_code": None, "credentials_hint": "oken"}
    assert not _notes(settings, seeded, "instagram", "token_expired")
