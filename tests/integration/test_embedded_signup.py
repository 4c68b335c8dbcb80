"""WhatsApp Embedded Signup over real sockets (issue 20): the inbox with ``OMNI_META_ES_CONFIG_ID``
against the Meta sandbox, each step posted as the browser would — start (the dialog with
``config_id`` + ``extras``), the sandbox's dialog (one number picked), its finish page (the
``WA_EMBEDDED_SIGNUP`` session info), our callback (which hands the code on), then
``/connect/facebook/embedded`` with the code and the session info the page relays.

Checked: the number is registered with a PIN only the encrypted credentials hold, the WABA is
subscribed, the relayed ids are never trusted, and every refusal says why and stores nothing.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from connect_support import login_settings, meta_sandbox
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from omni_common.crypto import KeyRing, binding
from omni_common.dburl import async_url
from omni_common.domain.credentials import Credentials, unpack
from omni_common.settings import Settings
from omni_common.tenancy.accounts import CREDENTIALS_FIELD

pytestmark = pytest.mark.integration

PUBLIC = "https://inbox.test"
CONFIG = "es-config-1"
ES_PERMS = ["whatsapp_business_management", "whatsapp_business_messaging", "business_management"]


@pytest.fixture(scope="module")
def meta(settings: Settings) -> Iterator[str]:
    with meta_sandbox(settings) as root:
        yield root


@pytest.fixture(scope="module")
def inbox_url(settings: Settings, meta: str) -> Iterator[str]:
    checked = login_settings(settings, meta, meta_es_config_id=CONFIG, public_url=PUBLIC)
    with running_inbox(checked, declare=True) as url:
        yield url


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"es-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def rival(settings: Settings) -> SeededTenant:
    return seed(settings, f"esr-{uuid.uuid4().hex[:6]}")


@contextmanager
def _client(url: str, tenant: SeededTenant) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=20) as client:
        login = client.post(
            "/api/auth/login",
            json={"tenant": tenant.slug, "email": tenant.users["business_owner"], "password": PASSWORD},
        )
        assert login.status_code == 200, login.text
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        yield client


@pytest.fixture
def owner(inbox_url: str, tenant: SeededTenant) -> Iterator[httpx.Client]:
    with _client(inbox_url, tenant) as client:
        yield client


def _person(meta: str, *numbers: dict[str, Any]) -> dict[str, str]:
    """A test person with one business, one WABA and ``numbers`` (one plain number by default)."""
    p = f"{secrets.randbelow(10**9):09d}"
    phones = [
        {"id": f"1{i}{p}", "display_phone_number": f"+34 611 00{i} {p[:3]}", "verified_name": f"Casa {i}"}
        | extra
        for i, extra in enumerate(numbers or ({},))
    ]
    body = {
        "user_id": f"10{p}",
        "name": "Olga Owner",
        "businesses": [
            {
                "id": f"50{p}",
                "name": "Olga SL",
                "wabas": [{"id": f"20{p}", "name": "Casa WhatsApp", "phone_numbers": phones}],
            }
        ],
    }
    httpx.post(f"{meta}/_sandbox/people", json=body).raise_for_status()
    who = {"user": f"10{p}", "waba": f"20{p}", "business": f"50{p}"}
    who |= {f"phone{i}": phone["id"] for i, phone in enumerate(phones)}
    return who | {"phone": phones[0]["id"]}


def _start(client: httpx.Client) -> dict[str, str]:
    started = client.get("/connect/facebook/start", params={"channels": "whatsapp"})
    assert started.status_code == 302, started.text
    return dict(httpx.URL(started.headers["location"]).params)


def _dialog(
    meta: str,
    asked: dict[str, str],
    who: dict[str, str],
    phone: str | None = None,
    perms: list[str] = ES_PERMS,
) -> tuple[dict[str, str], dict[str, Any]]:
    """The person picks a number in the sandbox's Embedded Signup dialog; the callback's query and the
    ``WA_EMBEDDED_SIGNUP`` message the popup would post to its opener."""
    form = {
        k: asked[k] for k in ("client_id", "redirect_uri", "state", "config_id", "extras", "response_type")
    }
    form |= {"person": who["user"], "perm": perms, "phone": phone or who["phone"], "action": "confirm"}
    finished = httpx.post(f"{meta}/v21.0/dialog/oauth/confirm", data=form)
    assert finished.status_code == 200, finished.text
    target = re.search(r'id="continue-link" href="([^"]+)"', finished.text)
    message = re.search(r'<pre id="session-info">([^<]+)</pre>', finished.text)
    assert target, finished.text
    assert message, finished.text
    back = httpx.URL(html.unescape(target.group(1)))
    assert str(back).startswith(f"{PUBLIC}/connect/facebook/callback")
    return dict(back.params), json.loads(html.unescape(message.group(1)))


def _callback(client: httpx.Client, returned: dict[str, str]) -> dict[str, str]:
    """Our callback in the popup: a form that carries the code on (never used up here)."""
    page = client.get("/connect/facebook/callback", params=returned)
    assert page.status_code == 200, page.text
    assert 'id="embedded-return"' in page.text
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    return {k: html.unescape(v) for k, v in fields.items()}


def _relay(client: httpx.Client, carried: dict[str, str], message: dict[str, Any] | None) -> httpx.Response:
    """What the settings page posts: the code handed back, with the popup's session info."""
    form = {k: carried.get(k, "") for k in ("state", "code", "error")}
    form["csrf_token"] = client.headers["X-CSRF-Token"]
    if message is not None:
        data = message.get("data") or {}
        form |= {
            "event": message.get("event", ""),
            "waba_id": data.get("waba_id", ""),
            "phone_number_id": data.get("phone_number_id", ""),
            "error_message": data.get("error_message", ""),
        }
    return client.post("/connect/facebook/embedded", data=form)


def _signup(
    client: httpx.Client, meta: str, who: dict[str, str], phone: str | None = None, **relay: Any
) -> httpx.Response:
    returned, message = _dialog(meta, _start(client), who, phone)
    if relay:
        message = relay.get("message", message)
    return _relay(client, _callback(client, returned), message)


def _listed(client: httpx.Client) -> set[str]:
    return {a["external_account_id"] for a in client.get("/api/social-accounts").json()}


def _shown(client: httpx.Client, answer: httpx.Response) -> str:
    assert answer.status_code == 303, answer.text
    return client.get(answer.headers["location"]).text


def _sandbox_number(meta: str, phone: str) -> dict[str, Any]:
    accounts = httpx.get(f"{meta}/_sandbox/accounts").json()
    found = [a for a in accounts if a.get("account_id") == phone]
    assert found, phone
    return dict(found[0])


def _stored(settings: Settings, tenant: SeededTenant, phone: str) -> tuple[Credentials, str]:
    """The account's credentials decrypted with the tenant's key ring, and the raw ciphertext."""

    async def read() -> tuple[uuid.UUID, str]:
        url = settings.database_url.rsplit("/", 1)[0] + "/" + tenant.db_name
        engine = create_async_engine(async_url(url))
        try:
            async with engine.connect() as conn:
                row = (
                    await conn.execute(
                        text("SELECT id, credentials FROM social_accounts WHERE external_account_id = :p"),
                        {"p": phone},
                    )
                ).one()
        finally:
            await engine.dispose()
        return row[0], row[1]

    account_id, ciphertext = asyncio.run(read())
    ring = KeyRing.from_strings(settings.encryption_key_list())
    plain = ring.decrypt(ciphertext, aad=binding(tenant.id, account_id, CREDENTIALS_FIELD))
    return unpack(plain), ciphertext


def _register(meta: str, phone: str, token: str, pin: str) -> httpx.Response:
    return httpx.post(
        f"{meta}/v21.0/{phone}/register",
        json={"messaging_product": "whatsapp", "pin": pin},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_start_opens_embedded_signup_with_the_configuration(owner: httpx.Client) -> None:
    asked = _start(owner)
    assert asked["config_id"] == CONFIG
    assert json.loads(asked["extras"]) == {"setup": {}, "featureType": "", "sessionInfoVersion": "3"}
    assert asked["response_type"] == "code"
    assert "scope" not in asked  # the configuration names the permissions
    page = owner.get("/settings").text
    assert 'id="connect-whatsapp"' in page
    assert 'id="embedded-form"' in page
    assert "channels=facebook,instagram" in page  # Continue with Facebook keeps Pages and Instagram


def test_the_picked_number_is_registered_sealed_and_subscribed(
    owner: httpx.Client, meta: str, settings: Settings, tenant: SeededTenant
) -> None:
    who = _person(meta)
    done = _signup(owner, meta, who)
    assert done.status_code == 200, done.text
    assert 'data-ok="yes"' in done.text, done.text
    assert "Connected, receiving messages" in done.text
    assert who["phone"] in _listed(owner)
    assert who["waba"] in httpx.get(f"{meta}/_sandbox/subscriptions").json()
    number = _sandbox_number(meta, who["phone"])
    assert number["registered"]
    assert number["pin_set"]
    sealed, ciphertext = _stored(settings, tenant, who["phone"])
    assert sealed.pin is not None
    assert re.fullmatch(r"[0-9]{6}", sealed.pin)
    assert sealed.pin not in ciphertext
    assert sealed.token not in ciphertext
    assert sealed.pin not in done.text
    assert _register(meta, who["phone"], sealed.token, sealed.pin).status_code == 200  # Meta's PIN
    other = f"{(int(sealed.pin) + 1) % 10**6:06d}"
    assert _register(meta, who["phone"], sealed.token, other).json()["error"]["code"] == 133005


def test_connecting_again_keeps_the_pin(
    owner: httpx.Client, meta: str, settings: Settings, tenant: SeededTenant
) -> None:
    who = _person(meta)
    assert 'data-ok="yes"' in _signup(owner, meta, who).text
    first, _ = _stored(settings, tenant, who["phone"])
    again = _signup(owner, meta, who)
    assert 'data-ok="yes"' in again.text, again.text
    second, _ = _stored(settings, tenant, who["phone"])
    assert second.pin == first.pin
    assert second.token != first.token  # the new sign-in's token, with the same PIN


def test_relayed_ids_are_checked_against_what_meta_granted(owner: httpx.Client, meta: str) -> None:
    who, stranger = _person(meta), _person(meta)
    returned, message = _dialog(meta, _start(owner), who)
    forged = message | {"data": message["data"] | {"waba_id": stranger["waba"]}}
    refused = _relay(owner, _callback(owner, returned), forged)
    assert "did not give this app access to the WhatsApp account" in _shown(owner, refused)
    returned, message = _dialog(meta, _start(owner), who)
    forged = message | {"data": message["data"] | {"phone_number_id": stranger["phone"]}}
    refused = _relay(owner, _callback(owner, returned), forged)
    assert "is not in the WhatsApp account Facebook shared" in _shown(owner, refused)
    assert not {who["phone"], stranger["phone"]} & _listed(owner)
    assert not _sandbox_number(meta, stranger["phone"])["pin_set"]


def test_without_the_message_the_granted_waba_is_read(owner: httpx.Client, meta: str) -> None:
    who = _person(meta)  # a page whose popup message never arrived (redirect mode, scripts off)
    done = _signup(owner, meta, who, message=None)
    assert 'data-ok="yes"' in done.text, done.text
    assert who["phone"] in _listed(owner)


def test_several_numbers_and_no_message_ask_the_owner(owner: httpx.Client, meta: str) -> None:
    who = _person(meta, {}, {})
    chosen = _signup(owner, meta, who, message=None)
    assert chosen.status_code == 200, chosen.text
    assert f'value="wa:{who["phone1"]}"' in chosen.text
    pick = re.search(r'name="pick" value="([^"]+)"', chosen.text)
    assert pick
    csrf = owner.headers["X-CSRF-Token"]
    done = owner.post(
        "/connect/facebook/finish",
        data={"csrf_token": csrf, "pick": pick.group(1), "asset": f"wa:{who['phone1']}"},
    )
    assert 'data-ok="yes"' in done.text, done.text
    assert _sandbox_number(meta, who["phone1"])["pin_set"]
    assert who["phone1"] in _listed(owner)
    assert who["phone0"] not in _listed(owner)


def test_a_number_already_registered_with_its_own_pin_still_connects(
    owner: httpx.Client, meta: str, settings: Settings, tenant: SeededTenant
) -> None:
    who = _person(meta, {"two_step_pin": "424242"})
    done = _signup(owner, meta, who)
    assert 'data-ok="yes"' in done.text, done.text
    sealed, _ = _stored(settings, tenant, who["phone"])
    assert sealed.pin is None  # not ours: its owner's PIN stays theirs, ours was never set


def test_a_refused_registration_gives_meta_reason_and_stores_nothing(owner: httpx.Client, meta: str) -> None:
    who = _person(meta, {"code_verification_status": "NOT_VERIFIED", "registered": False})
    done = _signup(owner, meta, who)
    assert 'data-ok="no"' in done.text
    assert "WhatsApp refused to register this number" in done.text
    assert "must be verified" in done.text
    assert who["phone"] not in _listed(owner)
    assert who["waba"] not in httpx.get(f"{meta}/_sandbox/subscriptions").json()


def test_a_number_in_review_connects_with_a_warning(owner: httpx.Client, meta: str) -> None:
    who = _person(meta, {"name_status": "PENDING_REVIEW"})
    done = _signup(owner, meta, who)
    assert 'data-ok="yes"' in done.text, done.text
    assert "still reviewing this number" in done.text


def test_cancelled_or_failed_signups_connect_nothing(owner: httpx.Client, meta: str) -> None:
    who = _person(meta)
    cancelled = {"type": "WA_EMBEDDED_SIGNUP", "event": "CANCEL", "data": {"current_step": "PHONE_NUMBER"}}
    assert "before the end; nothing was connected" in _shown(
        owner, _signup(owner, meta, who, message=cancelled)
    )
    failed = {"type": "WA_EMBEDDED_SIGNUP", "event": "ERROR", "data": {"error_message": "Phone is banned"}}
    assert "Phone is banned" in _shown(owner, _signup(owner, meta, who, message=failed))
    asked = _start(owner)  # Cancel in the dialog itself
    form = {k: asked[k] for k in ("client_id", "redirect_uri", "state", "config_id", "extras")}
    finished = httpx.post(
        f"{meta}/v21.0/dialog/oauth/confirm", data=form | {"person": who["user"], "action": "cancel"}
    )
    target = re.search(r'id="continue-link" href="([^"]+)"', finished.text)
    assert target
    carried = _callback(owner, dict(httpx.URL(html.unescape(target.group(1))).params))
    assert "cancelled" in _shown(owner, _relay(owner, carried, None))
    assert who["phone"] not in _listed(owner)


def test_a_declined_permission_is_named(owner: httpx.Client, meta: str) -> None:
    who = _person(meta)
    returned, message = _dialog(
        meta, _start(owner), who, perms=["whatsapp_business_management", "business_management"]
    )
    shown = _shown(owner, _relay(owner, _callback(owner, returned), message))
    assert "you did not allow send and receive WhatsApp messages" in shown
    assert who["phone"] not in _listed(owner)


def test_an_expired_code_is_explained(owner: httpx.Client, meta: str) -> None:
    who = _person(meta)
    returned, message = _dialog(meta, _start(owner), who)
    httpx.post(f"{meta}/_sandbox/oauth/codes/{returned['code']}/expire").raise_for_status()
    shown = _shown(owner, _relay(owner, _callback(owner, returned), message))
    assert "expired" in shown
    assert who["phone"] not in _listed(owner)


def test_a_forged_or_reused_state_is_refused(owner: httpx.Client, meta: str) -> None:
    who = _person(meta)
    forged = owner.get("/connect/facebook/callback", params={"code": "x", "state": "forged"})
    assert forged.status_code == 400
    assert "Nothing was connected" in forged.text
    returned, message = _dialog(meta, _start(owner), who)
    carried = _callback(owner, returned)
    assert 'data-ok="yes"' in _relay(owner, carried, message).text
    reused = _relay(owner, carried, message)
    assert reused.status_code == 400
    assert "already used" in reused.text


def test_a_number_another_restaurant_holds_is_refused_before_registering(
    owner: httpx.Client, inbox_url: str, rival: SeededTenant, meta: str
) -> None:
    who = _person(meta)
    with _client(inbox_url, rival) as theirs:
        assert 'data-ok="yes"' in _signup(theirs, meta, who).text
    httpx.delete(f"{meta}/_sandbox/requests").raise_for_status()
    refused = _signup(owner, meta, who)
    assert "already connected to another restaurant" in refused.text
    assert who["phone"] not in _listed(owner)
    paths = [r["path"] for r in httpx.get(f"{meta}/_sandbox/requests").json()]
    assert not [p for p in paths if p.endswith("/register")]  # their number's PIN was left alone
