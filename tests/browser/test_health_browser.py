"""Channel health and the 24-hour window in real headless Chromium (issue 9).

The failures and the expiry come from where they come from in production: the Meta sandbox fails a
reply the real outbound-sender sent (Meta's asynchronous 131047, back through ingress, router and
normalizer), and the real account-monitor reads a token the sandbox says expires in 3 days.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from health_support import monitor_pass, sandbox_with_sender
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from pipeline import Pipeline, running_pipeline

from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    # Messenger's customer last wrote two days ago: that conversation's window is closed.
    return seed(settings, f"health-ui-{uuid.uuid4().hex[:6]}", stale_channel="facebook")


@pytest.fixture(scope="module")
def pipe(settings: Settings, tenant: SeededTenant) -> Iterator[Pipeline]:
    with running_pipeline(settings) as p:  # this module's one topology declaration
        yield p


@pytest.fixture(scope="module")
def meta(settings: Settings, pipe: Pipeline, tenant: SeededTenant) -> Iterator[str]:
    with sandbox_with_sender(settings, pipe.topology, tenant, ingress_url=pipe.ingress_url) as root:
        yield root


@pytest.fixture(scope="module")
def inbox_url(settings: Settings, pipe: Pipeline, meta: str) -> Iterator[str]:
    with running_inbox(settings, declare=False) as url:
        yield url


@pytest.fixture
def page(inbox_url: str, browser: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=inbox_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def _sign_in(page: Any, tenant: SeededTenant, role: str = "manager") -> None:
    page.goto("/login")
    page.get_by_label("Restaurant").fill(tenant.slug)
    page.get_by_label("Email").fill(tenant.users[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox")


def _execute(settings: Settings, tenant: SeededTenant, sql: str, params: tuple[Any, ...]) -> None:
    with psycopg.connect(libpq_conninfo(settings.database_url, database=tenant.db_name)) as conn:
        conn.execute(sql, params)


def _card(page: Any, tenant: SeededTenant, channel: str) -> Any:
    return page.locator(f"#channel-health article[data-account='{tenant.account_ids[channel]}']")


def test_a_reply_meta_fails_shows_on_the_health_panel_in_plain_words(
    page: Any, meta: str, tenant: SeededTenant
) -> None:
    # Meta accepts the send, then reports "window closed" in a failed status webhook, as it does.
    fault = {
        "error_code": 131047,
        "mode": "accept_then_fail_async",
        "match": {"account_id": tenant.account_ids["whatsapp"], "method": "POST"},
    }
    httpx.post(f"{meta}/_sandbox/faults", json=fault).raise_for_status()
    _sign_in(page, tenant)
    page.goto(f"/inbox?c={tenant.chats['whatsapp']}")
    text = f"See you at 8 {uuid.uuid4().hex[:4]}"
    page.locator("#reply-text").fill(text)
    page.get_by_role("button", name="Send").click()
    page.locator("#messages .msg.outbound[data-status=failed]", has_text=text).wait_for()

    page.goto("/settings")
    card = _card(page, tenant, "whatsapp")
    failure = card.locator(".failure[data-code='131047']")
    failure.wait_for()
    assert "the 24-hour window has closed" in failure.inner_text()
    assert "Re-engagement" not in card.inner_text()  # Meta's wording is replaced by plain words
    assert "Working" in card.locator(".health-status").inner_text()  # a window is not a broken account


def test_a_token_meta_says_expires_in_3_days_warns_the_owner_on_the_card_and_in_the_banner(
    page: Any, settings: Settings, meta: str, tenant: SeededTenant
) -> None:
    account = tenant.account_ids["instagram"]
    httpx.post(
        f"{meta}/_sandbox/tokens", json={"account_id": account, "expires_in_s": 3 * 86400}
    ).raise_for_status()
    assert monitor_pass(settings, meta, tenant.id)["warned"] == 1
    _sign_in(page, tenant, "business_owner")
    banner = page.locator("#banner .banner[data-kind=token_expiring]")
    banner.wait_for()
    assert "Instagram connection expires in 3 days" in banner.inner_text()
    banner.get_by_role("link", name="Fix it in Settings").click()
    page.wait_for_url("**/settings")
    card = _card(page, tenant, "instagram")
    assert "expires in 3 days" in card.locator(".token-warning").inner_text()
    assert card.locator(".health-facts time").last.get_attribute("datetime") is not None


def test_a_stale_conversation_shows_the_window_closed_and_blocks_the_composer(
    page: Any, tenant: SeededTenant
) -> None:
    _sign_in(page, tenant)
    page.goto(f"/inbox?c={tenant.chats['facebook']}")
    page.locator("#window-countdown.closed", has_text="Reply window closed").wait_for()
    assert page.locator("#window-closed").is_visible()
    assert "24 hours" in page.locator("#window-closed").inner_text()
    assert page.locator("#reply-text").is_disabled()
    assert page.get_by_role("button", name="Send").is_disabled()


def test_an_open_conversation_counts_down_live(page: Any, tenant: SeededTenant) -> None:
    _sign_in(page, tenant)
    page.goto(f"/inbox?c={tenant.chats['whatsapp']}")
    countdown = page.locator("#window-countdown", has_text="left")
    countdown.wait_for()
    first = countdown.inner_text()
    assert first.startswith("Reply window: 23h")
    # It is live: the text changes on its own (waiting on the page, not sleeping).
    page.wait_for_function("t => document.getElementById('window-countdown').textContent !== t", arg=first)
    assert page.locator("#reply-text").is_enabled()
    assert page.locator("#window-closed").is_hidden()


def test_the_composer_closes_when_the_countdown_reaches_zero(
    page: Any, settings: Settings, tenant: SeededTenant
) -> None:
    # The customer last wrote 24 hours minus 3 seconds ago: the window closes while the page is open.
    last = datetime.now(UTC) - timedelta(hours=24) + timedelta(seconds=3)
    _execute(
        settings,
        tenant,
        "UPDATE chats SET last_inbound_at = %s WHERE id = %s",
        (last, tenant.chats["instagram"]),
    )
    _sign_in(page, tenant)
    page.goto(f"/inbox?c={tenant.chats['instagram']}")
    page.locator("#window-countdown.closed").wait_for()
    assert page.locator("#reply-text").is_disabled()
    assert page.locator("#window-closed").is_visible()
