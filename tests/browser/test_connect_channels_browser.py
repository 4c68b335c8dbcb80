"""Connecting each channel in real headless Chromium at 1280x800 and 390x844 (issue 20): Instagram
through "Continue with Facebook", WhatsApp through Embedded Signup (the sandbox's dialog in a popup,
its ``WA_EMBEDDED_SIGNUP`` message relayed by our page), and the refusals an owner can meet: a
declined permission, a Page another restaurant holds, an expired code — each said in plain words,
with nothing stored. (Messenger and a forged state: test_connect_facebook_browser.py.)

The inbox's public address (``OMNI_PUBLIC_URL``, whose callback is the redirect URI) is its own
socket's, so the page and the callback share one origin, as in production: the popup's message is
posted to the redirect URI's origin, which must be the page's. (A routed stand-in address would not
do: Chromium follows a routed answer's redirects without routing them again.)
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from connect_support import inbox_at_its_own_address, login_settings, meta_sandbox
from inbox_support import PASSWORD, SeededTenant, seed

from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT_MS = 15_000
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def meta(settings: Settings) -> Iterator[str]:
    with meta_sandbox(settings) as root:
        yield root


@pytest.fixture(scope="module")
def inbox_url(settings: Settings, meta: str) -> Iterator[str]:
    checked = login_settings(settings, meta, meta_es_config_id="es-config-browser")
    with inbox_at_its_own_address(checked) as url:
        yield url


# The seeded tenants and the servers come before the browser: seeding runs its own event loop, which
# Playwright's (running in this thread once the browser starts) would not allow.
@pytest.fixture(scope="module")
def tenant(settings: Settings, rival: SeededTenant) -> SeededTenant:
    """Our restaurant (the rival is seeded with it, before any test starts the browser)."""
    return seed(settings, f"chui-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def rival(settings: Settings) -> SeededTenant:
    return seed(settings, f"chur-{uuid.uuid4().hex[:6]}")


def _page(browser: Any, inbox_url: str, size: str) -> Any:
    context = browser.new_context(base_url=inbox_url, viewport=VIEWPORTS[size])
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def _close(page: Any) -> None:
    """Close the context once routed requests still in flight are let go."""
    page.context.unroute_all(behavior="ignoreErrors")
    page.context.close()


def _sign_in(page: Any, tenant: SeededTenant) -> None:
    page.goto("/login")
    page.get_by_label("Restaurant").fill(tenant.slug)
    page.get_by_label("Email").fill(tenant.users["business_owner"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox")


def _listed(inbox_url: str, tenant: SeededTenant) -> set[str]:
    """The tenant's connected account ids, read through the API (not the browser)."""
    with httpx.Client(base_url=inbox_url, timeout=20) as client:
        login = {"tenant": tenant.slug, "email": tenant.users["business_owner"], "password": PASSWORD}
        client.post("/api/auth/login", json=login).raise_for_status()
        return {a["external_account_id"] for a in client.get("/api/social-accounts").json()}


def _person(meta: str, numbers: int = 2) -> dict[str, str]:
    p = f"{secrets.randbelow(10**9):09d}"
    phones = [
        {"id": f"1{i}{p}", "display_phone_number": f"+34 622 00{i} {p[:3]}", "verified_name": f"Casa {p} {i}"}
        for i in range(numbers)
    ]
    body = {
        "user_id": f"10{p}",
        "name": f"Olga {p}",
        "pages": [
            {"id": f"30{p}", "name": f"Trattoria {p}", "instagram": {"id": f"40{p}", "username": f"tr{p}"}}
        ],
        "businesses": [
            {
                "id": f"50{p}",
                "name": "Olga SL",
                "wabas": [{"id": f"20{p}", "name": f"Casa {p}", "phone_numbers": phones}],
            }
        ],
    }
    httpx.post(f"{meta}/_sandbox/people", json=body).raise_for_status()
    return {
        "user": f"10{p}",
        "page": f"30{p}",
        "ig": f"40{p}",
        "name": f"Trattoria {p}",
        "waba": f"20{p}",
        "phone": phones[-1]["id"],  # the last one: without the popup's message the owner would be asked
    }


def _as_person(dialog: Any, who: dict[str, str]) -> None:
    """The sandbox's dialog lists several test people: continue as ours."""
    dialog.wait_for_load_state()
    if dialog.locator(f"#person-{who['user']}").count():
        dialog.locator(f"#person-{who['user']}").check()
        dialog.locator("#continue").click()


def _fits(page: Any, size: str) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[size]["width"]


def _embedded_signup(
    page: Any, who: dict[str, str], before_confirm: Callable[[Any], None] | None = None
) -> None:
    """Settings → "Connect WhatsApp" → the popup: pick the number, confirm; the popup closes itself."""
    page.goto("/settings")
    button = page.locator("#connect-whatsapp")
    button.scroll_into_view_if_needed()
    assert button.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    with page.expect_popup() as opened:
        button.click()
    popup = opened.value
    _as_person(popup, who)
    popup.locator(f"#asset-phone-{who['phone']}").check()
    if before_confirm is not None:
        before_confirm(popup)
    with popup.expect_event("close"):  # listening before the click: the popup may close at once
        popup.locator("#confirm").click()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_owner_connects_whatsapp_with_embedded_signup(
    tenant: SeededTenant, meta: str, inbox_url: str, browser: Any, size: str
) -> None:
    who = _person(meta)
    page = _page(browser, inbox_url, size)
    try:
        _sign_in(page, tenant)
        _embedded_signup(page, who)
        page.wait_for_url("**/connect/facebook/embedded")
        outcome = page.locator("#connect-outcomes li").first
        outcome.wait_for()
        assert outcome.get_attribute("data-ok") == "yes", outcome.inner_text()
        assert "Connected, receiving messages" in outcome.inner_text()
        _fits(page, size)
        page.get_by_role("link", name="See your connected accounts").click()
        assert page.locator(f"tr[data-account='{who['phone']}']").is_visible()
    finally:
        _close(page)
    number = [a for a in httpx.get(f"{meta}/_sandbox/accounts").json() if a["account_id"] == who["phone"]]
    assert number[0]["registered"]
    assert number[0]["pin_set"]
    assert who["waba"] in httpx.get(f"{meta}/_sandbox/subscriptions").json()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_owner_connects_instagram_with_facebook(
    tenant: SeededTenant, meta: str, inbox_url: str, browser: Any, size: str
) -> None:
    who = _person(meta)
    page = _page(browser, inbox_url, size)
    try:
        _sign_in(page, tenant)
        page.goto("/settings")
        button = page.locator("#continue-facebook")
        button.scroll_into_view_if_needed()
        button.click()
        _as_person(page, who)
        page.locator("#confirm").click()
        page.wait_for_url("**/connect/facebook/callback**")
        page.get_by_label(f"Instagram account of “{who['name']}”").check()
        finish = page.locator("#connect-finish")
        finish.scroll_into_view_if_needed()
        finish.click()
        outcome = page.locator("#connect-outcomes li").first
        outcome.wait_for()
        assert outcome.get_attribute("data-ok") == "yes", outcome.inner_text()
        assert "Instagram account of" in outcome.inner_text()
        _fits(page, size)
    finally:
        _close(page)
    assert who["ig"] in _listed(inbox_url, tenant)
    assert who["page"] not in _listed(inbox_url, tenant)  # only what was ticked


def test_a_declined_whatsapp_permission_is_said_and_nothing_is_stored(
    tenant: SeededTenant, meta: str, inbox_url: str, browser: Any
) -> None:
    who = _person(meta)
    page = _page(browser, inbox_url, "phone")
    try:
        _sign_in(page, tenant)
        _embedded_signup(
            page, who, lambda popup: popup.locator("#perm-whatsapp_business_messaging").uncheck()
        )
        page.wait_for_url("**/settings?**")
        said = page.locator("p.error[role='alert']").first
        assert "you did not allow send and receive WhatsApp messages" in said.inner_text()
    finally:
        _close(page)
    assert who["phone"] not in _listed(inbox_url, tenant)
    number = [a for a in httpx.get(f"{meta}/_sandbox/accounts").json() if a["account_id"] == who["phone"]]
    assert not number[0]["pin_set"]  # never registered


def test_a_page_another_restaurant_holds_is_refused(
    tenant: SeededTenant, rival: SeededTenant, meta: str, inbox_url: str, browser: Any
) -> None:
    who = _person(meta)
    granted = {"pages_messaging": [who["page"]], "pages_manage_metadata": [who["page"]]}
    token = httpx.post(
        f"{meta}/_sandbox/oauth/tokens",
        json={"user_id": who["user"], "kind": "PAGE", "page_id": who["page"], "targets": granted},
    ).json()["token"]
    with httpx.Client(base_url=inbox_url, timeout=20) as theirs:  # the other restaurant got it first
        login = {"tenant": rival.slug, "email": rival.users["business_owner"], "password": PASSWORD}
        csrf = theirs.post("/api/auth/login", json=login).json()["csrf_token"]
        body = {"channel": "facebook", "external_account_id": who["page"], "token": token}
        claimed = theirs.post("/api/social-accounts", json=body, headers={"X-CSRF-Token": csrf})
        assert claimed.status_code in (200, 201), claimed.text
    page = _page(browser, inbox_url, "desktop")
    try:
        _sign_in(page, tenant)
        page.goto("/settings")
        page.locator("#continue-facebook").click()
        _as_person(page, who)
        page.locator("#confirm").click()
        page.wait_for_url("**/connect/facebook/callback**")
        page.get_by_label(f"Messenger of the Page “{who['name']}”").check()
        page.locator("#connect-finish").click()
        outcome = page.locator("#connect-outcomes li").first
        outcome.wait_for()
        assert outcome.get_attribute("data-ok") == "no"
        assert "already connected to another restaurant" in outcome.inner_text()
    finally:
        _close(page)
    assert who["page"] not in _listed(inbox_url, tenant)


def test_an_expired_code_is_explained(tenant: SeededTenant, meta: str, inbox_url: str, browser: Any) -> None:
    who = _person(meta)
    page = _page(browser, inbox_url, "desktop")

    def expire_first(route: Any) -> None:  # the owner took too long: Meta's code expired meanwhile
        answer = route.fetch(max_redirects=0)  # the dialog's redirect to our callback, with the code
        code = httpx.URL(answer.headers.get("location", "")).params.get("code")
        if code:
            httpx.post(f"{meta}/_sandbox/oauth/codes/{code}/expire").raise_for_status()
        route.fulfill(response=answer)

    try:
        _sign_in(page, tenant)
        page.route("**/dialog/oauth/confirm", expire_first)
        page.goto("/settings")
        page.locator("#continue-facebook").click()
        _as_person(page, who)
        page.locator("#confirm").click()
        page.wait_for_url("**/settings?**")
        said = page.locator("p.error[role='alert']").first.inner_text()
        assert "took too long and expired" in said
        assert "start again" in said
    finally:
        _close(page)
    assert not {who["page"], who["ig"]} & _listed(inbox_url, tenant)
