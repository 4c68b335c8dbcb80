"""Alerts in real headless Chromium (notification permission granted), at 1280×800 and 390×844:

- the installable app: the manifest and its icons, the service worker at /sw.js with its headers,
  registered with the whole site as its scope;
- a customer's message arriving through the real pipeline (signed webhook → router → normalizer →
  live event) alerts with the sound and a notification when its conversation is not the open one,
  and stays quiet for the open conversation;
- a push message delivered to the real service worker (DevTools' ServiceWorker.deliverPushMessage:
  Chromium's push endpoint is Google's and cannot be pointed at 127.0.0.1, so the encrypted path is
  tested against our own push service in tests/integration/test_push_alerts.py) shows a
  notification when no inbox page is in front of the owner.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from pipeline import Pipeline, body_of, running_pipeline, sign
from playwright.sync_api import expect
from testenv import APP_SECRET

from omni_common.channels import samples
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT_MS = 15_000
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"alerts-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def pipe(settings: Settings, tenant: SeededTenant) -> Iterator[Pipeline]:
    with running_pipeline(settings) as p:
        yield p


@pytest.fixture(scope="module")
def inbox_url(settings: Settings, pipe: Pipeline) -> Iterator[str]:
    with running_inbox(settings, declare=False) as url:
        yield url


@pytest.fixture(params=sorted(SIZES))
def page(request: pytest.FixtureRequest, inbox_url: str, browser: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=inbox_url, viewport=SIZES[request.param])
    context.grant_permissions(["notifications"], origin=inbox_url)
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
    page.wait_for_url("**/inbox")


def customer_writes(pipe: Pipeline, tenant: SeededTenant, text: str) -> None:
    delivery = samples.whatsapp_text(
        phone_number_id=tenant.account_ids["whatsapp"],
        waba_id=tenant.wabas["whatsapp"],
        wa_id=tenant.contacts["whatsapp"],
        name="Alert Customer",
        text=text,
        message_id=f"wamid.{uuid.uuid4().hex}",
        timestamp=int(time.time()),
    )
    body = body_of(delivery)
    headers = {"X-Hub-Signature-256": sign(body, APP_SECRET), "Content-Type": "application/json"}
    assert (
        httpx.post(f"{pipe.ingress_url}/webhooks/whatsapp", content=body, headers=headers).status_code == 200
    )


def messenger_customer_writes(pipe: Pipeline, tenant: SeededTenant, text: str) -> None:
    now_ms = int(time.time() * 1000)
    delivery = samples.messaging_text(
        "facebook",
        account_id=tenant.account_ids["facebook"],
        user_id=tenant.contacts["facebook"],
        text=text,
        mid=f"m_{uuid.uuid4().hex}",
        timestamp_ms=now_ms,
    )
    body = body_of(delivery)
    headers = {"X-Hub-Signature-256": sign(body, APP_SECRET), "Content-Type": "application/json"}
    assert (
        httpx.post(f"{pipe.ingress_url}/webhooks/facebook", content=body, headers=headers).status_code == 200
    )


NOTIFICATIONS_JS = """async () => {
  const reg = await navigator.serviceWorker.ready;
  return (await reg.getNotifications()).map(n => ({title: n.title, body: n.body, tag: n.tag}));
}"""


def test_the_inbox_is_installable(page: Any, tenant: SeededTenant) -> None:
    manifest = page.request.get("/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    doc = manifest.json()
    assert doc["display"] == "standalone"
    assert doc["start_url"] == "/inbox"
    for icon in doc["icons"]:
        got = page.request.get(icon["src"])
        assert got.ok, icon
        if icon["type"] == "image/png":
            assert got.body()[:8] == b"\x89PNG\r\n\x1a\n"
    worker = page.request.get("/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["service-worker-allowed"] == "/"
    sound = page.request.get("/static/alert.wav")
    assert sound.body()[:4] == b"RIFF"

    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, tenant)
    assert page.locator("link[rel=manifest]").get_attribute("href") == "/manifest.webmanifest"
    page.locator("body[data-sw=registered]").wait_for(state="attached")
    scope = page.evaluate("async () => (await navigator.serviceWorker.ready).scope")
    assert scope == page.url.split("/inbox")[0] + "/"
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_a_customer_message_alerts_unless_its_conversation_is_open(
    page: Any, tenant: SeededTenant, pipe: Pipeline
) -> None:
    sign_in(page, tenant, "manager")
    page.goto("/settings/inbox")
    expect(page.locator("#alerts-state")).to_have_text("Alerts are off on this device.")
    page.get_by_role("button", name="Turn on alerts on this device").click()
    # Chromium's push service is Google's (unreachable here): alerts work while the inbox is open.
    expect(page.locator("#alerts-state")).to_contain_text("Alerts are on")
    expect(page.get_by_role("button", name="Turn off alerts on this device")).to_be_visible()

    whatsapp, facebook = tenant.chats["whatsapp"], tenant.chats["facebook"]
    page.goto(f"/inbox?c={facebook}")
    page.locator(f"#messages[data-chat='{facebook}']").wait_for()
    page.locator("body[data-events=ready]").wait_for(state="attached")

    customer_writes(pipe, tenant, "Do you have a table at 8?")
    page.locator(f"body[data-alert-chat='{whatsapp}']").wait_for(state="attached")
    page.locator(f"body[data-alert-notified='{whatsapp}']").wait_for(state="attached")
    expect(page.locator("body")).to_have_attribute("data-alert-sounds", "1")
    shown = page.evaluate(NOTIFICATIONS_JS)
    assert any(n["tag"] == f"chat-{whatsapp}" for n in shown), shown

    # Now the WhatsApp conversation is open: its next message shows up without an alert, while one in
    # the Messenger conversation (not open) alerts.
    page.goto(f"/inbox?c={whatsapp}")
    page.locator(f"#messages[data-chat='{whatsapp}']").wait_for()
    page.locator("body[data-events=ready]").wait_for(state="attached")
    before = int(page.locator("body").get_attribute("data-alert-sounds") or "0")
    customer_writes(pipe, tenant, "Never mind, see you at 8")
    expect(page.locator("#messages")).to_contain_text("Never mind, see you at 8")
    messenger_customer_writes(pipe, tenant, "Is the kitchen still open?")
    page.locator(f"body[data-alert-chat='{facebook}']").wait_for(state="attached")
    expect(page.locator("body")).to_have_attribute("data-alert-sounds", str(before + 1))


def test_a_push_reaches_the_service_worker_and_shows_a_notification(page: Any, tenant: SeededTenant) -> None:
    sign_in(page, tenant)
    page.locator("body[data-sw=registered]").wait_for(state="attached")
    origin = page.url.split("/inbox")[0]
    cdp = page.context.new_cdp_session(page)
    registrations: list[str] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(
            r["registrationId"] for r in e["registrations"] if r["scopeURL"] == origin + "/"
        ),
    )
    cdp.send("ServiceWorker.enable")
    # DevTools reports the registration as an event; Playwright delivers it while it waits on the
    # page, so the wait below is a bounded pump of its events, not a fixed sleep.
    deadline = time.monotonic() + 10
    while not registrations and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert registrations
    chat = tenant.chats["instagram"]
    payload = {"title": "Mia", "body": "Can I bring my dog?", "chat_id": str(chat), "url": f"/inbox?c={chat}"}
    # No inbox page in front of the owner: the worker alerts by itself.
    page.goto("about:blank")
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": origin, "registrationId": registrations[0], "data": json.dumps(payload)},
    )
    page.goto(origin + "/settings/inbox")
    page.wait_for_function(
        "async (tag) => (await (await navigator.serviceWorker.ready).getNotifications())"
        ".some(n => n.tag === tag)",
        arg=f"chat-{chat}",
    )
    shown = page.evaluate(NOTIFICATIONS_JS)
    assert {"title": "Mia", "body": "Can I bring my dog?", "tag": f"chat-{chat}"} in shown


def test_opening_and_writing_tell_the_whatsapp_customer_and_the_owner_can_switch_it_off(
    page: Any, tenant: SeededTenant
) -> None:
    sign_in(page, tenant)
    whatsapp = tenant.chats["whatsapp"]
    with page.expect_response(f"**/api/conversations/{whatsapp}/seen") as seen:
        page.goto(f"/inbox?c={whatsapp}")
    assert seen.value.ok
    with page.expect_response(f"**/api/conversations/{whatsapp}/typing") as typing:
        page.locator("#reply-text").fill("Yes, we have a table at 8")
    assert typing.value.ok

    page.goto("/settings/inbox")
    label = 'Show customers "typing…" while you write a reply (WhatsApp)'
    was = page.get_by_label(label).is_checked()  # both sizes run this test: each flips it
    page.get_by_label(label).set_checked(not was)
    page.locator("#signals-form").get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved what customers see.")
    assert page.get_by_label(label).is_checked() is (not was)
    expect(page.get_by_label("Show customers that we read their message", exact=False)).to_be_checked()
