"""Statuses in the open conversation (issue 18, bug 1): four replies in a row in WhatsApp and in
Messenger; the sandbox moves each to read through the real pipeline (signed status webhooks →
ingress → router → normalizer → live event), and the page shows read for all without a reload,
never moving a message's status backwards. Also the ticks, and no console error meanwhile."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from pipeline import Pipeline, running_pipeline, running_sender
from playwright.sync_api import expect
from sandbox_server import sandbox
from testenv import APP_SECRET

from meta_sandbox import SandboxConfig
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT_MS = 20_000
DOCS = Path(__file__).parent.parent.parent / "docs"

# Records every status a message's .status element shows, in order (a MutationObserver on the
# history), so a step backwards between two checks cannot go unseen.
WATCH = """() => {
  window.__seen = {};
  const rank = {queued: 0, sending: 1, sent: 2, delivered: 3, read: 4, failed: 5};
  const note = () => document.querySelectorAll('#messages li.msg.outbound').forEach(li => {
    const s = li.querySelector('.status');
    if (!s) return;
    const list = (window.__seen[li.dataset.id] = window.__seen[li.dataset.id] || []);
    const st = s.dataset.status;
    if (list[list.length - 1] !== st) list.push(st);
  });
  new MutationObserver(note).observe(document.body, {subtree: true, childList: true, attributes: true,
    attributeFilter: ['data-status']});
  note();
  window.__rank = rank;
}"""


@pytest.fixture(scope="module")
def tenants(settings: Settings) -> dict[str, SeededTenant]:
    """One restaurant per screen size: each customer gets only four replies in a row (the sender
    paces a burst to one WhatsApp number like Meta's pair limit, which eight would run into)."""
    return {size: seed(settings, f"ticks-{size[0]}{uuid.uuid4().hex[:6]}") for size in ("desktop", "phone")}


@pytest.fixture(scope="module")
def pipe(settings: Settings, tenants: dict[str, SeededTenant]) -> Iterator[Pipeline]:
    with running_pipeline(settings) as p:
        yield p


@pytest.fixture(scope="module")
def meta(settings: Settings, tenants: dict[str, SeededTenant], pipe: Pipeline) -> Iterator[str]:
    config = SandboxConfig(ingress_url=pipe.ingress_url, app_secret=APP_SECRET, status_delay_s=0.3)
    with sandbox(config) as root:
        for tenant in tenants.values():
            for channel, ext in tenant.account_ids.items():
                body = {
                    "channel": channel,
                    "account_id": ext,
                    "token": f"token-{ext}",
                    "display_name": channel,
                }
                if channel == "whatsapp":
                    body["waba_id"] = tenant.wabas["whatsapp"]
                httpx.post(f"{root}/_sandbox/accounts", json=body).raise_for_status()
        graph = settings.model_copy(update={"graph_api_url": f"{root}/v21.0"})
        with running_sender(graph, pipe.topology):
            yield root


@pytest.fixture(scope="module")
def inbox_url(settings: Settings, pipe: Pipeline, meta: str) -> Iterator[str]:
    with running_inbox(settings, declare=False) as url:
        yield url


@pytest.fixture(params=[(1280, 800), (390, 844)], ids=["desktop", "phone"])
def page(request: Any, inbox_url: str, browser: Any) -> Iterator[Any]:
    width, height = request.param
    context = browser.new_context(base_url=inbox_url, viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.errors = []
    # Console errors count, except the browser's own favicon fetch (the page's resources that fail
    # are caught by their response instead).
    page.on(
        "console",
        lambda m: (
            page.errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("response", lambda r: page.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    context.close()


def sign_in(page: Any, tenant: SeededTenant) -> None:
    page.goto("/login")
    page.get_by_label("Restaurant").fill(tenant.slug)
    page.get_by_label("Email").fill(tenant.users["business_owner"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox")


@pytest.mark.parametrize("channel", ["whatsapp", "facebook"])
def test_four_replies_in_a_row_all_reach_read_live(
    page: Any, tenants: dict[str, SeededTenant], meta: str, channel: str
) -> None:
    tenant = tenants["desktop" if page.viewport_size["width"] > 700 else "phone"]
    sign_in(page, tenant)
    page.goto(f"/inbox?c={tenant.chats[channel]}")
    page.locator("body[data-events=ready]").wait_for(state="attached")
    page.evaluate(WATCH)
    box = page.locator("#reply-text")
    texts = [f"Reply {i} {uuid.uuid4().hex[:6]}" for i in range(4)]
    for text in texts:  # in a row: each Enter as soon as the box is empty again
        box.fill(text)
        box.press("Enter")
        expect(box).to_have_value("")
    for text in texts:
        sent = page.locator("#messages li.msg.outbound", has_text=text)
        expect(sent.locator(".status")).to_have_attribute("data-status", "read", timeout=TIMEOUT_MS)
        # Blue double tick, and the word for screen readers.
        expect(sent.locator(".status .tick")).to_have_text("✓✓")
        expect(sent.locator(".status .sr-only")).to_have_text("read")
        assert sent.locator(".status .tick").get_attribute("aria-hidden") == "true"
    seen = page.evaluate("window.__seen")
    rank = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4}
    for message_id, steps in seen.items():
        ranks = [rank[s] for s in steps if s in rank]
        assert ranks == sorted(ranks), f"{message_id} went backwards: {steps}"
    blue = page.locator("#messages .status-read .tick").first.evaluate("e => getComputedStyle(e).color")
    grey = page.locator("#messages .msg.outbound .meta time").first.evaluate("e => getComputedStyle(e).color")
    assert blue != grey
    assert page.errors == []
    # The README's and docs' pictures are refreshed on request only (a test run leaves the tree clean).
    if channel == "whatsapp" and os.environ.get("OMNI_UPDATE_SCREENSHOT") == "1":
        name = "desktop" if page.viewport_size["width"] > 700 else "phone"
        page.locator("#reply-text").fill("Perfect, see you at 8!")
        page.screenshot(path=str(DOCS / f"screenshot-conversation-{name}.png"))
