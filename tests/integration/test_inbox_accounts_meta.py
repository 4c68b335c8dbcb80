"""Saving and testing an account's token asks Meta (the sandbox, over a real socket) first."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from pipeline import unique_digits
from sandbox_server import sandbox

from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration

GOOD = "EAAgood-token-for-meta-check"


@pytest.fixture(scope="module")
def meta() -> Iterator[str]:
    with sandbox() as root:
        yield root


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"metacheck-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def http(settings: Settings, meta: str, tenant: SeededTenant) -> Iterator[httpx.Client]:
    checked = settings.model_copy(
        update={"verify_accounts": True, "graph_api_url": f"{meta}/v21.0", "meta_app_id": "sandbox-app"}
    )
    with running_inbox(checked, declare=True) as url, httpx.Client(base_url=url, timeout=20) as client:
        response = client.post(
            "/api/auth/login",
            json={"tenant": tenant.slug, "email": tenant.users["business_owner"], "password": PASSWORD},
        )
        client.cookies.clear()
        client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        yield client


def _register(meta: str, account: str, token: str, **extra: object) -> None:
    body = {
        "channel": "facebook",
        "account_id": account,
        "token": token,
        "display_name": "Trattoria Roma",
        **extra,
    }
    httpx.post(f"{meta}/_sandbox/accounts", json=body).raise_for_status()


def test_a_valid_token_is_saved_with_the_name_meta_reports(http: httpx.Client, meta: str) -> None:
    account = unique_digits()
    _register(meta, account, GOOD)
    response = http.post(
        "/api/social-accounts", json={"channel": "facebook", "external_account_id": account, "token": GOOD}
    )
    assert response.status_code == 201, response.text
    assert response.json()["display_name"] == "Trattoria Roma"
    assert GOOD not in response.text


def test_a_refused_token_is_not_saved_and_meta_reason_is_shown(http: httpx.Client, meta: str) -> None:
    account = unique_digits()
    _register(meta, account, GOOD)
    response = http.post(
        "/api/social-accounts",
        json={"channel": "facebook", "external_account_id": account, "token": "EAAnot-the-right-token"},
    )
    assert response.status_code == 422
    assert "Meta refused" in response.json()["detail"]
    assert "EAAnot-the-right-token" not in response.text
    listed = http.get("/api/social-accounts").json()
    assert account not in {a["external_account_id"] for a in listed}


def test_test_connection_flags_an_expired_token_and_a_new_token_restores_it(
    http: httpx.Client, meta: str, settings: Settings, tenant: SeededTenant
) -> None:
    account = unique_digits()
    _register(meta, account, GOOD)
    view = http.post(
        "/api/social-accounts", json={"channel": "facebook", "external_account_id": account, "token": GOOD}
    ).json()
    assert http.post(f"/api/social-accounts/{view['id']}/test").json()["ok"] is True

    _register(meta, account, GOOD, token_expires_at=1)  # Meta now says the token expired
    result = http.post(f"/api/social-accounts/{view['id']}/test").json()
    assert result["ok"] is False
    listed = {a["id"]: a for a in http.get("/api/social-accounts").json()}
    assert listed[view["id"]]["status"] == "needs_reauth"
    assert listed[view["id"]]["last_error_at"] is not None

    _register(meta, account, GOOD)  # Meta accepts the same token again (e.g. the app was re-approved)
    assert http.post(f"/api/social-accounts/{view['id']}/test").json()["ok"] is True
    listed = {a["id"]: a for a in http.get("/api/social-accounts").json()}
    assert listed[view["id"]]["status"] == "active"
    assert (listed[view["id"]]["last_error_code"], listed[view["id"]]["last_error_at"]) == (None, None)
    with psycopg.connect(libpq_conninfo(settings.database_url, database=tenant.db_name)) as conn:
        tested = conn.execute(
            "SELECT details FROM audit_log WHERE action = 'account.tested' AND target_id = %s ORDER BY id",
            (view["id"],),
        ).fetchall()
    assert [(d["ok"], d.get("reactivated")) for (d,) in tested] == [
        (True, False),
        (False, None),
        (True, True),
    ]
    _register(meta, account, GOOD, token_expires_at=1)
    assert http.post(f"/api/social-accounts/{view['id']}/test").json()["ok"] is False

    fresh = "EAAfresh-token-after-expiry"
    _register(meta, account, fresh)
    replaced = http.patch(f"/api/social-accounts/{view['id']}", json={"token": fresh})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["status"] == "active"
    refused = http.patch(f"/api/social-accounts/{view['id']}", json={"token": "EAAwrong-token-again"})
    assert refused.status_code == 422
    assert http.post(f"/api/social-accounts/{uuid.uuid4()}/test").status_code == 404


def test_meta_unreachable_saves_nothing(settings: Settings, tenant: SeededTenant) -> None:
    offline = settings.model_copy(
        update={"verify_accounts": True, "graph_api_url": "http://127.0.0.1:9/v21.0"}
    )
    with running_inbox(offline) as url, httpx.Client(base_url=url, timeout=20) as client:
        login = client.post(
            "/api/auth/login",
            json={"tenant": tenant.slug, "email": tenant.users["business_owner"], "password": PASSWORD},
        )
        client.cookies.clear()
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        account = unique_digits()
        response = client.post(
            "/api/social-accounts",
            json={"channel": "instagram", "external_account_id": account, "token": GOOD},
            headers=auth,
        )
        assert response.status_code == 502
        listed = client.get("/api/social-accounts", headers=auth).json()
        assert account not in {a["external_account_id"] for a in listed}
