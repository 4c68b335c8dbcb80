"""The reply window's countdown (``static/countdown.js``) at its edge, in headless Chromium.

One second before ``reply_window_closes_at`` the page still counts down and lets staff write; at that
instant it says closed, disables the composer and shows why. The inbox's refusal and the sender's say
the same at the same instants (``tests/integration/test_reply_window.py``,
``tests/unit/test_outbound_decisions.py::test_the_sender_refuses_from_exactly_24_hours``).
Playwright's clock sets the page's time; the server keeps the real one (the window is open there).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed

from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT_MS = 15_000
VIEWPORTS = [{"width": 1280, "height": 800}, {"width": 390, "height": 844}]


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"countdown-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def closes_at(settings: Settings, tenant: SeededTenant) -> datetime:
    """The WhatsApp conversation's window closes in 23 hours, on a whole second (as the page parses it)."""
    with psycopg.connect(libpq_conninfo(settings.database_url, database=tenant.db_name)) as conn:
        row = conn.execute(
            "UPDATE chats SET last_inbound_at = date_trunc('second', now()) - interval '1 hour' "
            "WHERE id = %s RETURNING last_inbound_at + interval '24 hours'",
            (tenant.chats["whatsapp"],),
        ).fetchone()
    assert row is not None
    closes: datetime = row[0]
    return closes


@pytest.fixture(scope="module")
def inbox_url(settings: Settings, tenant: SeededTenant) -> Iterator[str]:
    with running_inbox(settings, declare=True) as url:  # this module's one topology declaration
        yield url


@pytest.fixture(params=VIEWPORTS, ids=lambda v: f"{v['width']}x{v['height']}")
def page(request: pytest.FixtureRequest, inbox_url: str, browser: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=inbox_url, viewport=request.param)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def test_the_countdown_is_open_one_second_before_and_closed_at_the_closing_time(
    page: Any, tenant: SeededTenant, closes_at: datetime
) -> None:
    from playwright.sync_api import expect

    page.goto("/login")
    page.get_by_label("Restaurant").fill(tenant.slug)
    page.get_by_label("Email").fill(tenant.users["manager"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox")

    page.clock.set_fixed_time(closes_at - timedelta(seconds=1))
    page.goto(f"/inbox?c={tenant.chats['whatsapp']}")
    countdown = page.locator("#window-countdown")
    assert datetime.fromisoformat(countdown.get_attribute("data-closes-at")) == closes_at
    expect(countdown).to_have_text("Reply window: 0h 00m 01s left")
    expect(countdown).to_be_visible()
    reply, send = page.locator("#reply-text"), page.get_by_role("button", name="Send")
    expect(reply).to_be_enabled()
    expect(send).to_be_enabled()
    expect(page.locator("#window-closed")).to_be_hidden()

    page.clock.set_fixed_time(closes_at)  # the page's next tick reads the closing instant
    expect(countdown).to_have_text("Reply window closed")
    expect(reply).to_be_disabled()  # the whole composer: its fieldset is disabled
    expect(send).to_be_disabled()
    expect(page.locator("#window-closed")).to_be_visible()
