"""The conversation page's dates, emoji picker and keyboard shortcuts (issue 18) in real Chromium:
Today / Yesterday / weekday / full date on the list and as day separators, in the browser's zone
until the owner picks the restaurant's in Settings → inbox; emoji into the reply box and as a
reaction; j/k, e, a, r and / and the "?" list, never while typing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from playwright.sync_api import expect
from psycopg.rows import dict_row

from inbox_api.display.dates import clock, day_label, list_stamp
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT_MS = 15_000
NEW_YORK = "America/New_York"
TOKYO = "Asia/Tokyo"


def query(
    settings: Settings, tenant: SeededTenant, sql: str, params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    with psycopg.connect(
        libpq_conninfo(settings.database_url, database=tenant.db_name), row_factory=dict_row
    ) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"dates-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def moments(settings: Settings, tenant: SeededTenant) -> dict[str, datetime]:
    """Instagram: a message from last October, one from two days ago, and the seeded one of today."""
    now = datetime.now(UTC)
    found = {
        "october": datetime(now.year - 1, 10, 12, 18, 30, tzinfo=UTC),
        "two_days": now - timedelta(days=2),
    }
    for moment in found.values():
        query(
            settings,
            tenant,
            "INSERT INTO chat_messages (tenant_id, chat_id, channel, external_message_id, direction, kind, "
            "text, status, platform_timestamp) VALUES (%s, %s, 'instagram', %s, 'inbound', 'text', %s, "
            "'received', %s)",
            (
                tenant.id,
                tenant.chats["instagram"],
                f"mid.{uuid.uuid4().hex}",
                f"sent {moment:%Y-%m-%d}",
                moment,
            ),
        )
    # The seeded WhatsApp conversation and Instagram message are from a few minutes ago, which is
    # yesterday in New York just after its midnight: pin them to now, today in every zone.
    query(
        settings,
        tenant,
        "UPDATE chats SET last_message_at = %s WHERE id = %s",
        (now, tenant.chats["whatsapp"]),
    )
    query(
        settings,
        tenant,
        "UPDATE chat_messages SET platform_timestamp = %s WHERE id = %s",
        (now, tenant.messages["instagram"]),
    )
    found["now"] = now
    # The list: one conversation last active two days ago, one last October.
    query(
        settings,
        tenant,
        "UPDATE chats SET last_message_at = %s WHERE id = %s",
        (found["two_days"], tenant.chats["facebook"]),
    )
    query(
        settings,
        tenant,
        "UPDATE chats SET last_message_at = %s WHERE id = %s",
        (found["october"], tenant.chats["instagram"]),
    )
    return found


@pytest.fixture(scope="module")
def inbox_url(settings: Settings, tenant: SeededTenant) -> Iterator[str]:
    with running_inbox(settings, declare=True) as url:
        yield url


def new_page(browser: Any, inbox_url: str, viewport: dict[str, int], zone: str = NEW_YORK) -> Any:
    context = browser.new_context(base_url=inbox_url, viewport=viewport, timezone_id=zone)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.errors = []
    page.on(
        "console",
        lambda m: (
            page.errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


@pytest.fixture(params=[(1280, 800), (390, 844)], ids=["desktop", "phone"])
def page(request: Any, inbox_url: str, browser: Any) -> Iterator[Any]:
    width, height = request.param
    page = new_page(browser, inbox_url, {"width": width, "height": height})
    yield page
    page.context.close()


def sign_in(page: Any, tenant: SeededTenant, role: str = "business_owner") -> None:
    page.goto("/login")
    page.get_by_label("Restaurant").fill(tenant.slug)
    page.get_by_label("Email").fill(tenant.users[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox")


def list_stamp_of(page: Any, chat: uuid.UUID) -> str:
    return page.locator(f"#conv-list a.conv[data-chat='{chat}'] time").inner_text().strip()


def test_dates_in_the_browser_zone_then_in_the_restaurant_zone(
    page: Any, settings: Settings, tenant: SeededTenant, moments: dict[str, datetime]
) -> None:
    query(settings, tenant, "DELETE FROM inbox_display")
    sign_in(page, tenant)
    zone = ZoneInfo(NEW_YORK)
    now = datetime.now(UTC)
    assert list_stamp_of(page, tenant.chats["instagram"]) == f"12 Oct {now.year - 1}"
    assert list_stamp_of(page, tenant.chats["facebook"]) == list_stamp(moments["two_days"], now, zone)
    assert list_stamp_of(page, tenant.chats["whatsapp"]) == list_stamp(moments["now"], now, zone)
    assert list_stamp(moments["now"], now, zone).startswith("Today ")

    page.goto(f"/inbox?c={tenant.chats['instagram']}")
    separators = page.locator("#messages li.day-sep")
    seeded = query(
        settings,
        tenant,
        "SELECT platform_timestamp FROM chat_messages WHERE id = %s",
        (tenant.messages["instagram"],),
    )[0]["platform_timestamp"]
    expected = [day_label(m, now, zone) for m in (moments["october"], moments["two_days"], seeded)]
    expect(separators).to_have_text(expected)
    assert expected[0] == f"12 Oct {now.year - 1}"
    assert expected[-1] == "Today"
    assert expected[1] in ("Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday")
    october = page.locator("#messages li.msg", has_text=f"sent {now.year - 1}-10-12")
    expect(october.locator("time")).to_have_text(clock(moments["october"], zone))  # 14:30 in New York

    # The owner picks the restaurant's zone in Settings → inbox: every browser counts days there.
    page.goto("/settings/inbox")
    page.get_by_label("Time zone for dates and times in the inbox").select_option(TOKYO)
    page.get_by_role("button", name="Save time zone").click()
    page.locator("p.ok[role=status]", has_text="Asia/Tokyo").wait_for()
    page.goto(f"/inbox?c={tenant.chats['instagram']}")
    expect(october.locator("time")).to_have_text(clock(moments["october"], ZoneInfo(TOKYO)))  # 03:30 next day
    tokyo_days = [
        day_label(m, datetime.now(UTC), ZoneInfo(TOKYO))
        for m in (moments["october"], moments["two_days"], seeded)
    ]
    expect(separators).to_have_text(tokyo_days)
    assert tokyo_days[0] == f"13 Oct {now.year - 1}"
    audit = query(
        settings, tenant, "SELECT details FROM audit_log WHERE action = 'display.time_zone_changed'"
    )
    assert audit
    assert audit[-1]["details"]["to"] == TOKYO
    query(settings, tenant, "DELETE FROM inbox_display")
    assert page.errors == []


def test_emoji_into_the_reply_box_and_as_a_reaction(
    page: Any, settings: Settings, tenant: SeededTenant
) -> None:
    sign_in(page, tenant)
    page.goto(f"/inbox?c={tenant.chats['whatsapp']}")
    box = page.locator("#reply-text")
    box.fill("See you at 8 ")
    page.get_by_role("button", name="Insert an emoji").click()
    panel = page.get_by_role("dialog", name="Choose an emoji")
    expect(panel).to_be_visible()
    view = page.viewport_size
    b = panel.bounding_box()
    assert b["x"] >= 0
    assert b["x"] + b["width"] <= view["width"]
    assert b["y"] >= 0
    assert b["y"] + b["height"] <= view["height"]
    panel.get_by_label("Search emoji").fill("party")
    panel.get_by_role("button", name="party").click()
    expect(panel).to_be_hidden()
    assert box.input_value() == "See you at 8 🎉"
    expect(box).to_be_focused()

    # A reaction: any emoji of the picker, not four fixed ones.
    inbound = page.locator(f"#msg-{tenant.messages['whatsapp']}")
    inbound.get_by_role("button", name="React").click()
    expect(panel).to_be_visible()
    panel.get_by_role("button", name="fire").click()
    page.locator("#messages li.msg", has_text="🔥").first.wait_for()
    rows = query(
        settings, tenant, "SELECT text FROM chat_messages WHERE kind = 'reaction' AND direction = 'outbound'"
    )
    assert "🔥" in [r["text"] for r in rows]
    page.get_by_role("button", name="Insert an emoji").click()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    assert page.errors == []


def test_keyboard_shortcuts(browser: Any, inbox_url: str, settings: Settings, tenant: SeededTenant) -> None:
    page = new_page(browser, inbox_url, {"width": 1280, "height": 800})
    try:
        sign_in(page, tenant, "manager")
        convs = page.locator("#conv-list a.conv")
        first = convs.nth(0).get_attribute("data-chat")
        second = convs.nth(1).get_attribute("data-chat")
        page.keyboard.press("j")  # nothing open: the first conversation
        page.wait_for_url(f"**/inbox?c={first}")
        page.keyboard.press("j")
        page.wait_for_url(f"**/inbox?c={second}")
        page.keyboard.press("k")
        page.wait_for_url(f"**/inbox?c={first}")
        page.keyboard.press("ArrowDown")
        page.wait_for_url(f"**/inbox?c={second}")

        page.keyboard.press("?")
        help_ = page.get_by_role("dialog", name="Keyboard shortcuts")
        expect(help_).to_be_visible()
        for words in ("Next conversation", "Resolve", "Assign", "reply box"):
            expect(help_).to_contain_text(words)
        page.keyboard.press("Escape")
        expect(help_).to_be_hidden()

        page.locator("#thread-tools .tools-row").first.wait_for()
        page.keyboard.press("a")  # assign to me
        manager = query(
            settings, tenant, "SELECT id FROM users WHERE email = %s", (tenant.users["manager"],)
        )[0]["id"]
        expect(page.locator("#assignee")).to_have_value(str(manager))
        page.keyboard.press("e")  # resolve
        expect(page.locator("#state-badge")).to_have_attribute("data-state", "resolved")
        state = query(settings, tenant, "SELECT state, assignee_user_id FROM chats WHERE id = %s", (second,))[
            0
        ]
        assert state == {"state": "resolved", "assignee_user_id": manager}

        page.keyboard.press("r")
        box = page.locator("#reply-text")
        expect(box).to_be_focused()
        page.keyboard.type("jake?")  # typing in the box is never a shortcut
        assert box.input_value() == "jake?"
        assert f"c={second}" in page.url
        expect(help_).to_be_hidden()
        box.fill("")
        page.locator("h2").first.click()
        page.keyboard.press("/")
        expect(box).to_be_focused()
        assert box.input_value() == ""
        assert page.errors == []
    finally:
        page.context.close()


def test_the_page_orders_statuses_as_the_normalizer_does(browser: Any, inbox_url: str) -> None:
    """static/statuses.js and normalizer/statuses.py agree on every pair: nothing on screen goes back."""
    from normalizer.statuses import may_replace

    page = new_page(browser, inbox_url, {"width": 1280, "height": 800})
    try:
        page.goto("/login")
        statuses = ["queued", "sending", "unknown", "sent", "delivered", "read", "failed"]
        pairs = [(a, b) for a in statuses for b in statuses]
        got = page.evaluate("pairs => pairs.map(([a, b]) => window.omniStatuses.mayReplace(a, b))", pairs)
        assert got == [may_replace(a, b) for a, b in pairs]
    finally:
        page.context.close()
