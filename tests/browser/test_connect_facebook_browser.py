"""Continue with Facebook in real headless Chromium at 1280x800 and 390x844 (issue 20): the owner's
button, the Meta sandbox's login dialog (a permission declined on the phone), the choice page, the
outcome read back from Meta; a forged state refused.

The inbox's public address (``OMNI_PUBLIC_URL``, the redirect URI Meta sends the browser to) is
``https://inbox.test``; a route forwards it to the test's inbox, as a reverse proxy would.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from connect_support import login_settings, meta_sandbox
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed

from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT_MS = 15_000
PUBLIC = "https://inbox.test"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


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
    return seed(settings, f"fbui-{uuid.uuid4().hex[:6]}")


def _page(browser: Any, inbox_url: str, size: str) -> Any:
    context = browser.new_context(base_url=inbox_url, viewport=VIEWPORTS[size])
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()

    def forward(route: Any) -> None:  # the reverse proxy in front of the inbox
        url = route.request.url
        route.fulfill(status=302, headers={"location": inbox_url + url[len(PUBLIC) :]})

    page.route(f"{PUBLIC}/**", forward)
    return page


# The seeded tenant and the servers come before the browser: seeding runs its own event loop, which
# Playwright's (running in this thread once the browser starts) would not allow.


def _sign_in(page: Any, tenant: SeededTenant) -> None:
    page.goto("/login")
    page.get_by_label("Restaurant").fill(tenant.slug)
    page.get_by_label("Email").fill(tenant.users["business_owner"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox")


def _person(meta: str) -> dict[str, str]:
    p = f"{secrets.randbelow(10**9):09d}"
    body = {
        "user_id": f"10{p}",
        "name": f"Olga {p}",
        "pages": [
            {"id": f"30{p}", "name": f"Trattoria {p}", "instagram": {"id": f"40{p}", "username": "tr"}}
        ],
    }
    httpx.post(f"{meta}/_sandbox/people", json=body).raise_for_status()
    return {"user": f"10{p}", "page": f"30{p}", "ig": f"40{p}", "name": f"Trattoria {p}"}


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_owner_connects_a_page_with_facebook(
    tenant: SeededTenant, meta: str, inbox_url: str, browser: Any, size: str
) -> None:
    who = _person(meta)
    page = _page(browser, inbox_url, size)
    try:
        _sign_in(page, tenant)
        page.goto("/settings")
        button = page.locator("#continue-facebook")
        button.scroll_into_view_if_needed()
        assert button.is_visible()
        assert page.locator("details.connect-manual").get_attribute("open") is None  # folded for owners
        button.click()
        # Meta's dialog (the sandbox's): several test people exist, pick ours.
        if page.locator(f"#person-{who['user']}").count():
            page.locator(f"#person-{who['user']}").check()
            page.locator("#continue").click()
        if size == "phone":  # decline Instagram messages on the phone
            page.locator("#perm-instagram_manage_messages").uncheck()
        page.locator("#confirm").click()
        page.wait_for_url("**/connect/facebook/callback**")
        if size == "phone":
            assert page.locator("[data-declined='Instagram']").is_visible()
            assert (
                "answer Instagram Direct messages" in page.locator("[data-declined='Instagram']").inner_text()
            )
        page.get_by_label(f"Messenger of the Page “{who['name']}”").check()
        finish = page.locator("#connect-finish")
        finish.scroll_into_view_if_needed()
        finish.click()
        outcome = page.locator("#connect-outcomes li").first
        outcome.wait_for()
        assert outcome.get_attribute("data-ok") == "yes"
        assert "Connected, receiving messages" in outcome.inner_text()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORTS[size]["width"]  # nothing wider than the screen
        page.get_by_role("link", name="See your connected accounts").click()
        assert page.locator(f"tr[data-account='{who['page']}']").is_visible()
    finally:
        page.context.close()


def test_a_forged_state_is_refused_in_plain_words(tenant: SeededTenant, inbox_url: str, browser: Any) -> None:
    page = _page(browser, inbox_url, "desktop")
    try:
        _sign_in(page, tenant)
        page.goto("/connect/facebook/callback?code=abc&state=forged")
        problem = page.locator("#connect-problem")
        assert problem.is_visible()
        assert "Nothing was connected" in problem.inner_text()
    finally:
        page.context.close()
