"""Channel health and the 24-hour window in real headless Chromium (issue 9)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed

from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    # Messenger's customer last wrote two days ago: that conversation's window is closed.
    return seed(settings, f"health-ui-{uuid.uuid4().hex[:6]}", stale_channel="facebook")


@pytest.fixture(scope="module")
def inbox_url(settings: Settings, tenant: SeededTenant) -> Iterator[str]:
    with running_inbox(settings, declare=True) as url:  # this module's one topology
        yield url


@pytest.fixture
def page(inbox_url: str, browser: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=inbox_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def _sign_in(page: Any, tenant: SeededTenant) -> None:
    page.goto("/login")
    page.get_by_label("Restaurant").fill(tenant.slug)
    page.get_by_label("Email").fill(tenant.users["manager"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox")


def _execute(settings: Settings, tenant: SeededTenant, sql: str, params: tuple[Any, ...]) -> None:
    with psycopg.connect(libpq_conninfo(settings.database_url, database=tenant.db_name)) as conn:
        conn.execute(sql, params)


def test_the_health_panel_shows_a_failure_in_plain_words_and_the_expiry_warning(
    page: Any, settings: Settings, tenant: SeededTenant
) -> None:
    now = datetime.now(UTC)
    # What the normalizer stores for Meta's asynchronous "window closed" failure: code and Meta's text.
    _execute(
        settings,
        tenant,
        "INSERT INTO chat_messages (tenant_id, chat_id, channel, direction, kind, text, status, status_at, "
        "error_code, error_message) VALUES (%s, %s, 'whatsapp', 'outbound', 'text', 'See you', 'failed', "
        "%s, '131047', 'Re-engagement message')",
        (tenant.id, tenant.chats["whatsapp"], now),
    )
    _execute(
        settings,
        tenant,
        "UPDATE social_accounts SET token_expires_at = %s WHERE id = %s",
        (now + timedelta(days=3) - timedelta(minutes=1), tenant.accounts["whatsapp"]),
    )
    _sign_in(page, tenant)
    page.goto("/settings")
    card = page.locator(f"#channel-health article[data-account='{tenant.account_ids['whatsapp']}']")
    card.locator(".failure").first.wait_for()
    assert "the 24-hour window has closed" in card.locator(".failure").first.inner_text()
    assert "Re-engagement" not in card.inner_text()  # Meta's wording is replaced by plain words
    assert "expires in 3 days" in card.locator(".token-warning").inner_text()
    assert "Working" in card.locator(".health-status").inner_text()


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
