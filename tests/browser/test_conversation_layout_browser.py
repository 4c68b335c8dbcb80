"""The conversation page's layout (issue 18, bugs 4 and 9) measured in real Chromium at 390×844 and
1280×800: the composer, "Suggest a reply" and "Send" stay on screen, typing "/" never widens the
page, the quick-reply list fits the viewport, banners take one line each; a closed window's Send
is disabled, looks it and says why; adding a label logs no console error (strict CSP kept)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from playwright.sync_api import expect

from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT_MS = 15_000
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def execute(settings: Settings, tenant: SeededTenant, sql: str, params: tuple[Any, ...] = ()) -> None:
    with psycopg.connect(libpq_conninfo(settings.database_url, database=tenant.db_name)) as conn:
        conn.execute(sql, params)


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    seeded = seed(settings, f"layout-{uuid.uuid4().hex[:6]}", stale_channel="facebook")
    # A long evening of messages in the WhatsApp conversation (the history must scroll, not the page).
    now = datetime.now(UTC)
    for i in range(30):
        direction = "inbound" if i % 2 == 0 else "outbound"
        execute(
            settings,
            seeded,
            "INSERT INTO chat_messages (tenant_id, chat_id, channel, external_message_id, direction, kind, "
            "text, status, platform_timestamp) VALUES (%s, %s, 'whatsapp', %s, %s, 'text', %s, %s, %s)",
            (
                seeded.id,
                seeded.chats["whatsapp"],
                f"wamid.{uuid.uuid4().hex}",
                direction,
                f"Message {i}: do you have a table for four tonight, near the window if possible?",
                "received" if direction == "inbound" else "read",
                now - timedelta(minutes=60 - i),
            ),
        )
    for kind, title in (
        ("token_expired", "Instagram token expired"),
        ("template_paused", "A template was paused"),
    ):
        execute(
            settings,
            seeded,
            "INSERT INTO notifications (kind, severity, title, body) VALUES (%s, 'error', %s, %s)",
            (
                kind,
                title,
                "Replies through it are paused until you reconnect it in Settings, which takes a minute.",
            ),
        )
    return seeded


@pytest.fixture(scope="module")
def inbox_url(settings: Settings, tenant: SeededTenant) -> Iterator[str]:
    with running_inbox(settings, declare=True) as url:
        yield url


@pytest.fixture(scope="module")
def api(inbox_url: str, tenant: SeededTenant) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=inbox_url, timeout=15) as client:
        body = {"tenant": tenant.slug, "email": tenant.users["business_owner"], "password": PASSWORD}
        token = client.post("/api/auth/login", json=body).json()["access_token"]
        client.cookies.clear()
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def new_page(browser: Any, inbox_url: str, viewport: dict[str, int]) -> Any:
    context = browser.new_context(base_url=inbox_url, viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.errors = []
    # Every console error counts (a style the CSP blocked, a script error), except the browser's own
    # favicon fetch: resources of the page that fail are caught by their response instead.
    page.on(
        "console",
        lambda m: (
            page.errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("response", lambda r: page.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return page


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def page(request: Any, inbox_url: str, browser: Any) -> Iterator[Any]:
    page = new_page(browser, inbox_url, request.param)
    yield page
    page.context.close()


def sign_in(page: Any, tenant: SeededTenant) -> None:
    page.goto("/login")
    page.get_by_label("Restaurant").fill(tenant.slug)
    page.get_by_label("Email").fill(tenant.users["business_owner"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox")


def on_screen(page: Any, selector: str) -> dict[str, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not rendered"
    view = page.viewport_size
    inside = (
        box["x"] >= 0
        and box["x"] + box["width"] <= view["width"] + 0.5
        and box["y"] >= 0
        and box["y"] + box["height"] <= view["height"] + 0.5
    )
    assert inside, f"{selector} off screen: {box}"
    return box


def page_width(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def test_composer_stays_on_screen_and_slash_does_not_widen_the_page(
    page: Any, tenant: SeededTenant, api: httpx.Client
) -> None:
    for shortcut in ("hours", "vegan", "parking", "allergies", "birthday", "groups", "terrace", "kids"):
        api.post("/api/quick-replies", json={"shortcut": shortcut, "body": f"About {shortcut}: " + "x" * 300})
    sign_in(page, tenant)
    page.goto(f"/inbox?c={tenant.chats['whatsapp']}")
    page.locator("#thread-tools .tools-row").first.wait_for()
    width = page.viewport_size["width"]
    assert page_width(page) <= width
    for selector in ("#reply-text", "#suggest", "#send-btn"):
        on_screen(page, selector)
    # Banners: one line each (the text is cut, the whole of it stays available on hover/tap).
    for banner in page.locator("#banner .banner").all():
        height = banner.bounding_box()["height"]
        assert height <= 48, f"a banner takes {height}px"
    box = page.locator("#reply-text")
    box.click()
    box.press_sequentially("/")
    page.locator("#qr-list [role=option]").first.wait_for()
    assert page_width(page) <= width, "typing / widened the page"
    on_screen(page, "#qr-list")
    for selector in ("#reply-text", "#suggest", "#send-btn"):
        on_screen(page, selector)
    # The newest message is in view above the composer (the history scrolls, not the page).
    on_screen(page, "#messages li.msg:last-child .bubble")
    assert page.errors == []


def test_closed_window_send_is_disabled_and_says_why(page: Any, tenant: SeededTenant) -> None:
    sign_in(page, tenant)
    page.goto(f"/inbox?c={tenant.chats['facebook']}")  # the customer wrote 2 days ago
    send = page.locator("#send-btn")
    expect(send).to_be_disabled()
    why = page.locator("#send-why")
    expect(why).to_be_visible()
    assert "window has closed" in why.inner_text()
    assert send.get_attribute("aria-describedby") == "send-why"
    # It looks disabled: not the active blue of an enabled Send.
    page.goto(f"/inbox?c={tenant.chats['whatsapp']}")
    active = page.locator("#send-btn").evaluate("e => getComputedStyle(e).backgroundColor")
    expect(page.locator("#send-why")).to_be_hidden()
    page.goto(f"/inbox?c={tenant.chats['facebook']}")
    dimmed = page.locator("#send-btn").evaluate("e => getComputedStyle(e).backgroundColor")
    assert dimmed != active
    assert page.locator("#send-btn").evaluate("e => getComputedStyle(e).cursor") == "not-allowed"
    on_screen(page, "#send-why")
    assert page.errors == []


def test_adding_a_label_logs_no_console_error(page: Any, tenant: SeededTenant, api: httpx.Client) -> None:
    api.post("/api/labels", json={"name": f"VIP {uuid.uuid4().hex[:4]}", "color": "#8250df"})
    sign_in(page, tenant)
    page.goto(f"/inbox?c={tenant.chats['instagram']}")
    tools = page.locator("#thread-tools")
    tools.locator(".tools-row").first.wait_for()
    select = tools.locator("#add-label")
    value = select.locator("option").nth(1).get_attribute("value")
    select.select_option(value)
    chip = tools.locator(f".chip[data-label='{value}']")
    chip.wait_for()
    expect(chip).to_have_css("background-color", "rgb(130, 80, 223)")
    # The live event refreshes the list and the tools again: the chip there too, painted.
    row = page.locator(
        f"#conv-list a.conv[data-chat='{tenant.chats['instagram']}'] .chip[data-label='{value}']"
    )
    if page.viewport_size["width"] > 700:
        expect(row).to_have_css("background-color", "rgb(130, 80, 223)")
    chip.get_by_role("button").click()
    expect(tools.locator(f".chip[data-label='{value}']")).to_have_count(0)
    page.goto("/settings/inbox")
    page.get_by_label("Name", exact=False).first.wait_for()
    page.goto(f"/inbox?c={tenant.chats['instagram']}")
    tools.locator(".tools-row").first.wait_for()
    assert page.errors == [], page.errors


def test_a_failed_reply_shows_a_red_mark_with_its_reason_on_tap(
    page: Any, settings: Settings, tenant: SeededTenant
) -> None:
    reason = "the customer cannot receive messages on this number"
    text = f"Your table is ready {uuid.uuid4().hex[:4]}"
    execute(
        settings,
        tenant,
        "INSERT INTO chat_messages (tenant_id, chat_id, channel, direction, kind, text, status, error_code, "
        "error_message) VALUES (%s, %s, 'whatsapp', 'outbound', 'text', %s, 'failed', '131026', %s)",
        (tenant.id, tenant.chats["whatsapp"], text, reason),
    )
    sign_in(page, tenant)
    page.goto(f"/inbox?c={tenant.chats['whatsapp']}")
    failed = page.locator("#messages li.msg.outbound", has_text=text)
    mark = failed.locator("button.tick-fail")
    expect(mark).to_have_css("background-color", "rgb(164, 14, 38)")  # red
    assert reason in (mark.get_attribute("title") or "")  # on hover
    expect(failed.locator(".fail-reason")).to_be_hidden()
    mark.click()  # on tap
    expect(failed.locator(".fail-reason")).to_be_visible()
    expect(failed.locator(".fail-reason")).to_contain_text(reason)
    assert mark.get_attribute("aria-expanded") == "true"
    expect(mark).to_have_accessible_name(f"failed: {reason}")
    assert page.errors == []
