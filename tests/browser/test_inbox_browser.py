"""The web inbox in real headless Chromium: login, live messages, replies, icons, settings, banner."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from pipeline import Pipeline, body_of, running_pipeline, running_sender, sign
from sandbox_server import sandbox
from testenv import APP_SECRET

from meta_sandbox import SandboxConfig
from omni_common.channels import samples
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"bistro-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def pipe(settings: Settings, tenant: SeededTenant) -> Iterator[Pipeline]:
    with running_pipeline(settings) as p:  # declares the topology (once for this module)
        yield p


@pytest.fixture(scope="module")
def meta(settings: Settings, tenant: SeededTenant, pipe: Pipeline) -> Iterator[str]:
    """The Meta sandbox knowing the tenant's accounts, and a sender replying through it."""
    # Statuses a little apart, so the sender has committed 'sent' before Meta's 'sent' webhook lands.
    config = SandboxConfig(ingress_url=pipe.ingress_url, app_secret=APP_SECRET, status_delay_s=0.3)
    with sandbox(config) as root:
        for channel, ext in tenant.account_ids.items():
            body = {"channel": channel, "account_id": ext, "token": f"token-{ext}", "display_name": channel}
            if channel == "whatsapp":
                body["waba_id"] = tenant.wabas["whatsapp"]
            httpx.post(f"{root}/_sandbox/accounts", json=body).raise_for_status()
        graph = settings.model_copy(update={"graph_api_url": f"{root}/v21.0"})
        with running_sender(graph, pipe.topology):
            yield root


@pytest.fixture(scope="module")
def inbox_url(settings: Settings, pipe: Pipeline) -> Iterator[str]:
    with running_inbox(settings, declare=False) as url:
        yield url


@pytest.fixture
def page(inbox_url: str, browser: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=inbox_url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Any, tenant: SeededTenant, role: str = "business_owner") -> None:
    page.goto("/login")
    page.get_by_label("Restaurant").fill(tenant.slug)
    page.get_by_label("Email").fill(tenant.users[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def execute(settings: Settings, tenant: SeededTenant, sql: str, params: tuple[Any, ...]) -> None:
    with psycopg.connect(libpq_conninfo(settings.database_url, database=tenant.db_name)) as conn:
        conn.execute(sql, params)


def test_login_shows_every_channel_with_its_icon_and_label(page: Any, tenant: SeededTenant) -> None:
    sign_in(page, tenant)
    page.wait_for_url("**/inbox")
    for channel, label in (
        ("whatsapp", "WhatsApp"),
        ("facebook", "Messenger"),
        ("instagram", "Instagram"),
    ):
        badge = page.locator(f"#conv-list [data-channel={channel}]")
        badge.locator("svg use").wait_for(state="attached")
        assert badge.inner_text().strip() == label
    assert page.locator("#conv-list .unread").count() == 3


def test_refused_role_sees_a_clear_refusal(page: Any, tenant: SeededTenant) -> None:
    sign_in(page, tenant, "staff")
    page.locator("#login-error").wait_for()
    assert "only owners and managers" in page.locator("#login-error").inner_text()
    page.goto("/inbox")
    page.wait_for_url("**/login")


def test_webhook_message_appears_live_and_a_reply_goes_to_read(
    page: Any, tenant: SeededTenant, pipe: Pipeline, meta: str, tmp_path: Path
) -> None:
    sign_in(page, tenant)
    page.wait_for_url("**/inbox")
    page.locator(f"a.conv[data-chat='{tenant.chats['whatsapp']}']").click()
    page.locator("#messages .msg").first.wait_for()
    page.locator("body[data-events=ready]").wait_for(state="attached")
    text = f"Table for two at 8? {uuid.uuid4().hex[:6]}"
    delivery = samples.whatsapp_text(
        phone_number_id=tenant.account_ids["whatsapp"],
        waba_id=tenant.wabas["whatsapp"],
        wa_id=tenant.contacts["whatsapp"],
        name="Live Customer",
        text=text,
        message_id=f"wamid.{uuid.uuid4().hex}",
        timestamp=int(time.time()),
    )
    body = body_of(delivery)
    response = httpx.post(
        f"{pipe.ingress_url}/webhooks/whatsapp",
        content=body,
        headers={
            "X-Hub-Signature-256": sign(body, pipe.settings.app_secret_list()[0].decode()),
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 200
    page.locator("#messages .msg.inbound", has_text=text).wait_for()  # no reload: SSE + htmx

    page.locator("#messages .msg.inbound", has_text=text).get_by_role("button", name="Reply").click()
    page.locator("#quoting:not([hidden])").wait_for()
    page.get_by_label("Reply").fill("Yes, see you at 8!")
    page.get_by_label("Reply").press("Enter")
    sent = page.locator("#messages .msg.outbound", has_text="Yes, see you at 8!")
    assert "Table for two" in sent.locator(".quote").inner_text()
    # The sender replies through the sandbox, whose signed status webhooks come back through the
    # pipeline; the status on the page moves by itself (SSE), without a reload.
    sent.locator(".status[data-status=read]").wait_for()
    # The README's picture is the conversation view now (test_conversation_live_browser.py).
    page.screenshot(path=str(tmp_path / "inbox.png"))


def test_settings_connect_test_and_disable(page: Any, tenant: SeededTenant) -> None:
    sign_in(page, tenant, "business_owner")  # accounts are the owner's (a manager sees no controls)
    page.wait_for_url("**/inbox")
    page.goto("/settings")
    ext = str(uuid.uuid4().int)[:15]
    page.locator("#new-channel").select_option("facebook")
    page.locator("#new-id").fill(ext)
    page.locator("#new-name").fill("Terrace")
    page.locator("#new-token").fill("page-token-WXYZ4321")
    page.get_by_role("button", name="Connect", exact=True).click()
    row = page.locator(f"tr[data-account='{ext}']")
    row.wait_for()
    assert "…4321" in row.inner_text()
    assert "page-token" not in page.content()
    row.get_by_role("button", name="Test connection").click()
    page.locator("p.ok[role=status]", has_text="Connection works").wait_for()
    row.get_by_role("button", name="Disable").click()
    page.locator(f"tr[data-account='{ext}'] .acc-disabled").wait_for()


def test_expired_token_banner(page: Any, settings: Settings, tenant: SeededTenant) -> None:
    execute(
        settings,
        tenant,
        "INSERT INTO notifications (kind, severity, title, body, social_account_id) "
        "VALUES ('token_expired', 'error', 'Instagram token expired', 'Replies are paused.', %s)",
        (tenant.accounts["instagram"],),
    )
    sign_in(page, tenant)
    page.wait_for_url("**/inbox")
    banner = page.locator("#banner [data-kind=token_expired]")
    banner.wait_for()
    assert "Instagram token expired" in banner.inner_text()
    assert banner.get_by_role("link", name="Fix it in Settings").count() == 1
