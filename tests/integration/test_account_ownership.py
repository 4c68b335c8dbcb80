"""Ownership proof on every manual path (the settings form, the JSON API, ``omni account connect``).

Against the Meta sandbox over a real socket: a Page a token can *read* (any Page's name is public)
but was not *granted* is refused, so is a token of another Meta app; a granted one connects. Nothing
is stored when refused (issue 20).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from pipeline import unique_digits
from sandbox_server import sandbox
from typer.testing import CliRunner

from omni_cli.main import app as cli
from omni_common.settings import Settings

pytestmark = pytest.mark.integration

NOT_GRANTED = "not given permission"
OTHER_APP = "another Meta app"


@pytest.fixture(scope="module")
def meta() -> Iterator[str]:
    with sandbox() as root:
        yield root


@pytest.fixture(scope="module")
def checked(settings: Settings, meta: str) -> Settings:
    return settings.model_copy(
        update={"verify_accounts": True, "graph_api_url": f"{meta}/v21.0", "meta_app_id": "sandbox-app"}
    )


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"owned-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def inbox(checked: Settings, tenant: SeededTenant) -> Iterator[tuple[httpx.Client, str]]:
    """A cookie session of the owner (for the form) and its CSRF token; bearer calls use the same client."""
    with running_inbox(checked, declare=True) as url, httpx.Client(base_url=url, timeout=20) as client:
        login = client.post(
            "/api/auth/login",
            json={"tenant": tenant.slug, "email": tenant.users["business_owner"], "password": PASSWORD},
        )
        assert login.status_code == 200, login.text
        csrf = login.json()["csrf_token"]
        client.headers["X-CSRF-Token"] = csrf  # the JSON API's cookie writes
        yield client, csrf


def _control(meta: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{meta}/_sandbox{path}", json=body)
    response.raise_for_status()
    return response.json() if response.content else {}


def _world(meta: str) -> dict[str, str]:
    """The owner's Page (granted), a stranger's public Page (readable, not granted), their tokens."""
    user, mine, theirs = f"10{unique_digits()}", unique_digits(), unique_digits()
    _control(
        meta, "/people", {"user_id": user, "name": "Olga Owner", "pages": [{"id": mine, "name": "Olga's"}]}
    )
    _control(
        meta,
        "/accounts",
        {
            "channel": "facebook",
            "account_id": theirs,
            "token": f"EAAx{uuid.uuid4().hex}",
            "display_name": "Rival",
        },
    )
    granted = {"pages_messaging": [mine], "pages_manage_metadata": [mine]}
    token = _control(meta, "/oauth/tokens", {"user_id": user, "targets": granted})["token"]
    foreign = _control(meta, "/oauth/tokens", {"user_id": user, "targets": granted, "app_id": "other-app"})[
        "token"
    ]
    return {"mine": mine, "theirs": theirs, "token": token, "foreign": foreign}


def _listed(client: httpx.Client) -> set[str]:
    return {a["external_account_id"] for a in client.get("/api/social-accounts").json()}


def test_the_api_refuses_a_readable_but_not_granted_page_and_another_apps_token(
    inbox: tuple[httpx.Client, str], meta: str
) -> None:
    client, _ = inbox
    w = _world(meta)
    # The token reads the stranger's Page (public name) ...
    read = httpx.get(f"{meta}/v21.0/{w['theirs']}", params={"fields": "name", "access_token": w["token"]})
    assert read.status_code == 200, read.text
    # ... which proves nothing: refused, with the reason, and nothing stored.
    refused = client.post(
        "/api/social-accounts",
        json={"channel": "facebook", "external_account_id": w["theirs"], "token": w["token"]},
    )
    assert refused.status_code == 422, refused.text
    assert NOT_GRANTED in refused.json()["detail"]
    foreign = client.post(
        "/api/social-accounts",
        json={"channel": "facebook", "external_account_id": w["mine"], "token": w["foreign"]},
    )
    assert foreign.status_code == 422, foreign.text
    assert OTHER_APP in foreign.json()["detail"]
    assert not {w["mine"], w["theirs"]} & _listed(client)
    assert w["token"] not in refused.text + foreign.text

    ok = client.post(
        "/api/social-accounts",
        json={"channel": "facebook", "external_account_id": w["mine"], "token": w["token"]},
    )
    assert ok.status_code == 201, ok.text
    assert w["mine"] in _listed(client)
    # Replacing the token needs the same proof.
    replaced = client.patch(f"/api/social-accounts/{ok.json()['id']}", json={"token": w["foreign"]})
    assert replaced.status_code == 422, replaced.text
    assert OTHER_APP in replaced.json()["detail"]


def test_a_whatsapp_number_is_proven_through_its_waba(inbox: tuple[httpx.Client, str], meta: str) -> None:
    client, _ = inbox
    number, waba, token = unique_digits(), unique_digits(), f"EAAw{uuid.uuid4().hex}"
    _control(
        meta,
        "/accounts",
        {
            "channel": "whatsapp",
            "account_id": number,
            "token": token,
            "display_name": "Bistro",
            "waba_id": waba,
        },
    )
    body = {"channel": "whatsapp", "external_account_id": number, "token": token}
    refused = client.post("/api/social-accounts", json=body | {"waba_id": unique_digits()})
    assert refused.status_code == 422, refused.text
    assert NOT_GRANTED in refused.json()["detail"]
    assert number not in _listed(client)
    assert client.post("/api/social-accounts", json=body | {"waba_id": waba}).status_code == 201


def test_the_form_names_the_reason_next_to_the_field(inbox: tuple[httpx.Client, str], meta: str) -> None:
    client, csrf = inbox
    w = _world(meta)
    form = {"channel": "facebook", "token": w["token"], "csrf_token": csrf}
    refused = client.post("/settings/accounts", data=form | {"external_account_id": w["theirs"]})
    assert refused.status_code == 422
    assert NOT_GRANTED in refused.text
    assert w["token"] not in refused.text
    foreign = client.post(
        "/settings/accounts", data=form | {"external_account_id": w["mine"], "token": w["foreign"]}
    )
    assert foreign.status_code == 422
    assert OTHER_APP in foreign.text
    assert not {w["mine"], w["theirs"]} & _listed(client)
    ok = client.post("/settings/accounts", data=form | {"external_account_id": w["mine"]})
    assert ok.status_code == 303, ok.text
    assert w["mine"] in _listed(client)


def test_the_cli_refuses_with_a_clear_message(
    checked: Settings, tenant: SeededTenant, meta: str, inbox: tuple[httpx.Client, str]
) -> None:
    client, _ = inbox
    w = _world(meta)
    env = {
        "OMNI_DATABASE_URL": checked.database_url,
        "OMNI_ENCRYPTION_KEYS": checked.encryption_keys.get_secret_value(),
        "OMNI_GRAPH_API_URL": checked.graph_api_url,
        "OMNI_META_APP_ID": "sandbox-app",
        "OMNI_META_APP_SECRETS": checked.meta_app_secrets.get_secret_value(),
        "OMNI_ENV": "production",
    }
    saved = structlog.get_config()

    def run(page: str, token: str, *extra: str, **more: str) -> Any:
        argv = ["account", "connect", tenant.slug, "facebook", "--page-id", page, "--token", token, *extra]
        return CliRunner().invoke(cli, argv, env=env | more)

    try:
        refused = run(w["theirs"], w["token"])
        assert refused.exit_code == 1
        assert NOT_GRANTED in refused.output
        foreign = run(w["mine"], w["foreign"])
        assert foreign.exit_code == 1
        assert OTHER_APP in foreign.output
        unchecked = run(w["theirs"], w["token"], "--no-verify")
        assert unchecked.exit_code == 2
        assert "OMNI_ENV=development" in unchecked.output
        assert not {w["mine"], w["theirs"]} & _listed(client)
        ok = run(w["mine"], w["token"])
        assert ok.exit_code == 0, ok.output
        assert w["mine"] in _listed(client)
    finally:
        structlog.configure(**saved)


def test_production_refuses_to_start_without_the_check(settings: Settings) -> None:
    from inbox_api.main import check_account_proof

    with pytest.raises(SystemExit, match="OMNI_ENV=development"):
        check_account_proof(settings.model_copy(update={"env": "production", "verify_accounts": False}))
    check_account_proof(settings.model_copy(update={"env": "development", "verify_accounts": False}))
