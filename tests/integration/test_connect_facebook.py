"""Continue with Facebook over real sockets: the inbox against the Meta sandbox (its login dialog posted
as a browser would), start → callback → finish, and its refusals: a forged or reused state, an
expired code, a declined permission, a Page another restaurant holds, a manager (issue 20).
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from connect_support import APP, login_settings, meta_sandbox
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed

from omni_common.settings import Settings

pytestmark = pytest.mark.integration

PUBLIC = "https://inbox.test"
ALL_PERMS = [
    "pages_show_list",
    "pages_messaging",
    "pages_manage_metadata",
    "instagram_basic",
    "instagram_manage_messages",
    "whatsapp_business_management",
    "whatsapp_business_messaging",
    "business_management",
]


@pytest.fixture(scope="module")
def meta(settings: Settings) -> Iterator[str]:
    with meta_sandbox(settings) as root:
        yield root


@pytest.fixture(scope="module")
def inbox_url(settings: Settings, meta: str) -> Iterator[str]:
    with running_inbox(login_settings(settings, meta, public_url=PUBLIC), declare=True) as url:
        yield url


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"fb-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def rival(settings: Settings) -> SeededTenant:
    return seed(settings, f"fbr-{uuid.uuid4().hex[:6]}")


@contextmanager
def _client(url: str, tenant: SeededTenant, role: str = "business_owner") -> Iterator[httpx.Client]:
    """A signed-in cookie session of ``role`` (its CSRF token sent on every write)."""
    with httpx.Client(base_url=url, timeout=20) as client:
        login = client.post(
            "/api/auth/login", json={"tenant": tenant.slug, "email": tenant.users[role], "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        yield client


@pytest.fixture
def owner(inbox_url: str, tenant: SeededTenant) -> Iterator[httpx.Client]:
    with _client(inbox_url, tenant) as client:
        yield client


def _person(meta: str) -> dict[str, str]:
    p = f"{secrets.randbelow(10**9):09d}"
    body: dict[str, Any] = {
        "user_id": f"10{p}",
        "name": "Olga Owner",
        "pages": [
            {"id": f"30{p}", "name": "Trattoria Olga", "instagram": {"id": f"40{p}", "username": "tr"}}
        ],
        "businesses": [
            {
                "id": f"50{p}",
                "name": "Olga SL",
                "wabas": [
                    {
                        "id": f"20{p}",
                        "name": "Trattoria WhatsApp",
                        "phone_numbers": [
                            {
                                "id": f"11{p}",
                                "display_phone_number": "+34 600 000 001",
                                "verified_name": "Trattoria",
                            },
                            {
                                "id": f"12{p}",
                                "display_phone_number": "+34 600 000 002",
                                "verified_name": "Trattoria Two",
                                "registered": False,
                                "name_status": "PENDING_REVIEW",
                            },
                        ],
                    }
                ],
            }
        ],
    }
    httpx.post(f"{meta}/_sandbox/people", json=body).raise_for_status()
    return {
        "user": f"10{p}",
        "page": f"30{p}",
        "ig": f"40{p}",
        "waba": f"20{p}",
        "phone": f"11{p}",
        "review": f"12{p}",
    }


def _start(client: httpx.Client, channels: str = "facebook,instagram,whatsapp") -> dict[str, str]:
    started = client.get("/connect/facebook/start", params={"channels": channels})
    assert started.status_code == 302, started.text
    return dict(httpx.URL(started.headers["location"]).params)


def _consent(
    meta: str, asked: dict[str, str], who: dict[str, str], perms: list[str] = ALL_PERMS
) -> dict[str, str]:
    """The person allows in Meta's dialog (the sandbox's form, posted as the browser would)."""
    form = {
        "client_id": asked["client_id"],
        "redirect_uri": asked["redirect_uri"],
        "state": asked["state"],
        "scope": asked["scope"],
        "person": who["user"],
        "perm": perms,
        "page": [who["page"]],
        "instagram": [who["ig"]],
        "waba": [who["waba"]],
        "action": "confirm",
    }
    answer = httpx.post(f"{meta}/v21.0/dialog/oauth/confirm", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    back = httpx.URL(answer.headers["location"])
    assert str(back).startswith(f"{PUBLIC}/connect/facebook/callback")
    return dict(back.params)


def _choose(client: httpx.Client, returned: dict[str, str]) -> httpx.Response:
    return client.get("/connect/facebook/callback", params=returned)


def _form(page: str) -> tuple[str, list[str]]:
    pick = re.search(r'name="pick" value="([^"]+)"', page)
    assert pick, page
    return pick.group(1), re.findall(r'name="asset" value="([^"]+)"', page)


def _finish(client: httpx.Client, pick: str, assets: list[str]) -> httpx.Response:
    csrf = client.headers["X-CSRF-Token"]
    return client.post("/connect/facebook/finish", data={"csrf_token": csrf, "pick": pick, "asset": assets})


def _listed(client: httpx.Client) -> set[str]:
    return {a["external_account_id"] for a in client.get("/api/social-accounts").json()}


def test_start_sends_the_owner_to_meta_with_the_asked_permissions(owner: httpx.Client, meta: str) -> None:
    asked = _start(owner, "facebook")
    assert asked["client_id"] == APP
    assert asked["redirect_uri"] == f"{PUBLIC}/connect/facebook/callback"
    assert set(asked["scope"].split(",")) == {"pages_show_list", "pages_messaging", "pages_manage_metadata"}
    assert len(asked["state"]) >= 32


def test_the_whole_flow_connects_and_subscribes_the_ticked_accounts(owner: httpx.Client, meta: str) -> None:
    who = _person(meta)
    chosen = _choose(owner, _consent(meta, _start(owner), who))
    assert chosen.status_code == 200, chosen.text
    assert "Trattoria Olga" in chosen.text
    assert "+34 600 000 001" in chosen.text
    assert "EAA" not in chosen.text
    assert "access_token" not in chosen.text
    pick, assets = _form(chosen.text)
    assert set(assets) == {
        f"page:{who['page']}",
        f"ig:{who['ig']}",
        f"wa:{who['phone']}",
        f"wa:{who['review']}",
    }
    assert "still reviewing this number" in chosen.text  # the second number only
    assert chosen.text.count("data-review=") == 1
    assets.remove(f"wa:{who['review']}")
    done = _finish(owner, pick, assets)
    assert done.status_code == 200, done.text
    assert done.text.count('data-ok="yes"') == 3, done.text
    assert "receiving messages" in done.text
    assert {who["page"], who["ig"], who["phone"]} <= _listed(owner)
    subscribed = httpx.get(f"{meta}/_sandbox/subscriptions").json()
    assert "messages" in subscribed[who["page"]]
    assert who["waba"] in subscribed
    again = _finish(owner, pick, assets)  # the choice is single use
    assert again.status_code == 303
    assert "expired" in again.headers["location"]


def test_a_forged_or_reused_state_is_refused_and_nothing_is_stored(owner: httpx.Client, meta: str) -> None:
    who = _person(meta)
    forged = _choose(owner, {"code": "whatever", "state": "forged-state"})
    assert forged.status_code == 400
    assert "Nothing was connected" in forged.text
    returned = _consent(meta, _start(owner, "facebook"), who)
    first = _choose(owner, returned)
    assert first.status_code == 200
    reused = _choose(owner, returned)
    assert reused.status_code == 400
    assert "already used" in reused.text
    assert who["page"] not in _listed(owner)


def test_a_state_from_another_session_is_refused(inbox_url: str, tenant: SeededTenant, meta: str) -> None:
    who = _person(meta)
    with _client(inbox_url, tenant) as mine, _client(inbox_url, tenant) as other:
        returned = _consent(meta, _start(mine, "facebook"), who)
        stolen = _choose(other, returned)
        assert stolen.status_code == 400
        assert _choose(mine, returned).status_code == 400  # a leaked state is burnt for everyone


def test_an_expired_code_is_explained(owner: httpx.Client, meta: str) -> None:
    who = _person(meta)
    returned = _consent(meta, _start(owner, "facebook"), who)
    httpx.post(f"{meta}/_sandbox/oauth/codes/{returned['code']}/expire").raise_for_status()
    answer = _choose(owner, returned)
    assert answer.status_code == 303
    shown = owner.get(answer.headers["location"])
    assert "expired" in shown.text
    assert "start again" in shown.text


def test_a_declined_permission_is_named_in_plain_words(owner: httpx.Client, meta: str) -> None:
    who = _person(meta)
    perms = [p for p in ALL_PERMS if p != "whatsapp_business_messaging"]
    chosen = _choose(owner, _consent(meta, _start(owner), who, perms))
    assert chosen.status_code == 200, chosen.text
    assert "You did not allow send and receive WhatsApp messages" in chosen.text


def test_a_page_another_restaurant_holds_is_refused(
    owner: httpx.Client, inbox_url: str, rival: SeededTenant, meta: str
) -> None:
    who = _person(meta)
    with _client(inbox_url, rival) as theirs:
        pick, _ = _form(_choose(theirs, _consent(meta, _start(theirs, "facebook"), who)).text)
        assert 'data-ok="yes"' in _finish(theirs, pick, [f"page:{who['page']}"]).text
    pick, _ = _form(_choose(owner, _consent(meta, _start(owner, "facebook"), who)).text)
    refused = _finish(owner, pick, [f"page:{who['page']}"])
    assert "already connected to another restaurant" in refused.text
    assert who["page"] not in _listed(owner)


def test_managers_connect_nothing(inbox_url: str, tenant: SeededTenant) -> None:
    # Connecting is the owner's (docs/security.md, the role matrix): neither button nor manual form.
    with _client(inbox_url, tenant, "manager") as manager:
        refused = manager.get("/connect/facebook/start")
        assert refused.status_code == 403
        assert "owner" in refused.text
        page = manager.get("/settings").text
        assert "continue-facebook" not in page
        assert 'id="connect-form"' not in page
        assert "Only the restaurant's owner can connect accounts" in page


def test_the_owner_sees_the_button(owner: httpx.Client) -> None:
    page = owner.get("/settings").text
    assert 'id="continue-facebook"' in page
    assert "Connect manually" in page


def test_a_cancelled_sign_in_connects_nothing(owner: httpx.Client, meta: str) -> None:
    asked = _start(owner, "facebook")
    answer = _choose(
        owner, {"error": "access_denied", "error_reason": "user_denied", "state": asked["state"]}
    )
    assert answer.status_code == 303
    assert "cancelled" in owner.get(answer.headers["location"]).text


def test_an_id_that_was_not_offered_is_ignored(owner: httpx.Client, meta: str) -> None:
    who, stranger = _person(meta), _person(meta)
    pick, _ = _form(_choose(owner, _consent(meta, _start(owner, "facebook"), who)).text)
    done = _finish(owner, pick, [f"page:{stranger['page']}"])  # a Page this sign-in did not share
    assert "Nothing was connected" in done.text
    assert stranger["page"] not in _listed(owner)
