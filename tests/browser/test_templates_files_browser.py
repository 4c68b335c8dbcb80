"""Templates, files and writing first in real headless Chromium, at 1280x800 and 390x844, against
the whole path (pipeline, Meta sandbox, real sender): reply after 24 hours with a template; send a
photo with a caption and a PDF; start a conversation with a template; see a button reply's payload."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from inbox_support import PASSWORD, SeededTenant, seed
from pipeline import body_of, sign, wait_until
from playwright.sync_api import expect
from sample_files import EXE, JPEG, MB, PDF, png
from templates_support import Stack, full_stack
from testenv import APP_SECRET

from omni_common.channels import samples
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT_MS = 20_000
VIEWPORTS = [{"width": 1280, "height": 800}, {"width": 390, "height": 844}]
SENT = re.compile(r"^(sent|delivered|read)")


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"tplb-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def stack(
    settings: Settings, tenant: SeededTenant, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with full_stack(settings, tenant, tmp_path_factory.mktemp("media")) as s:
        assert s.http.post("/api/templates/sync", json={}).status_code == 202
        wait_until(
            lambda: len(s.http.get("/api/templates", params={"status": "APPROVED"}).json()) >= 4,
            what="the templates synced",
        )
        yield s


@pytest.fixture(params=VIEWPORTS, ids=lambda v: f"{v['width']}x{v['height']}")
def page(request: pytest.FixtureRequest, stack: Stack, browser: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=stack.inbox, viewport=request.param)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors  # CSP stays strict


def sign_in(page: Any, tenant: SeededTenant) -> None:
    page.goto("/login")
    page.get_by_label("Restaurant").fill(tenant.slug)
    page.get_by_label("Email").fill(tenant.users["manager"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox")


def fill_booking(form: Any) -> None:
    form.get_by_label("Title: value for {{1}}", exact=True).fill("Olga")
    for name, value in (("1", "Olga"), ("2", "4"), ("3", "Friday"), ("4", "21:00")):
        form.get_by_label(f"Value for {{{{{name}}}}}", exact=True).fill(value)


def test_reply_after_24_hours_with_a_template(page: Any, stack: Stack) -> None:
    stack.stale("whatsapp", hours=30)
    sign_in(page, stack.tenant)
    page.goto(f"/inbox?c={stack.tenant.chats['whatsapp']}")
    expect(page.locator("#window-closed")).to_contain_text("approved template")
    expect(page.locator("#reply-text")).to_be_disabled()
    page.get_by_role("button", name="Choose a template").click()
    template = page.locator("details.tpl[data-name='booking_confirmation']")
    template.locator("summary").click()
    form = template.locator("form")
    form.get_by_role("button", name="Send template").click()  # nothing filled in: refused, field named
    expect(form.locator(".tpl-error")).to_contain_text("Fill in")
    expect(form.locator("input[aria-invalid=true]")).to_have_count(1)
    fill_booking(form)
    expect(form.locator(".tpl-b")).to_have_text("Hi Olga, your table for 4 on Friday at 21:00 is confirmed.")
    expect(form.locator(".tpl-buttons li")).to_have_text(["See you there", "Cancel booking", "Call us"])
    form.get_by_role("button", name="Send template").click()
    expect(page.locator("#tpl-panel")).to_be_hidden()
    sent = page.locator("#messages li.msg.outbound", has_text="Booking confirmed, Olga").last
    expect(sent.locator(".tpl-sent")).to_contain_text("booking confirmation")
    expect(sent).to_contain_text("your table for 4 on Friday at 21:00")
    expect(sent.locator(".status")).to_have_text(SENT)


def test_send_a_photo_with_a_caption_and_a_pdf(page: Any, stack: Stack) -> None:
    stack.stale("whatsapp", hours=1)
    sign_in(page, stack.tenant)
    page.goto(f"/inbox?c={stack.tenant.chats['whatsapp']}")
    attach = page.locator("#attach-input")
    # Checked before uploading: over WhatsApp's 5 MB for photos.
    attach.set_input_files(
        [{"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": JPEG + b"\0" * (6 * MB)}]
    )
    expect(page.locator("#attach-status")).to_contain_text("5 MB")
    # An .exe renamed .jpg passes the browser's guess; the server reads its bytes and refuses it.
    attach.set_input_files([{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": EXE}])
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#attach-status")).to_contain_text("Not sent")
    page.locator(".attach-remove").click()
    caption = f"Tonight's special {uuid.uuid4().hex[:4]}"
    attach.set_input_files(
        [
            {"name": "special.png", "mimeType": "image/png", "buffer": png(24, 24)},
            {"name": "menu.pdf", "mimeType": "application/pdf", "buffer": PDF},
        ]
    )
    expect(page.locator("#attach-tray .attach-item")).to_have_count(2)
    page.locator("#reply-text").fill(caption)
    page.get_by_role("button", name="Send", exact=True).click()
    photo = page.locator("#messages li.msg.outbound", has_text=caption).last
    expect(photo.locator("img")).to_be_visible()
    expect(photo.locator(".status")).to_have_text(SENT)
    document = page.locator("#messages li.msg.outbound", has_text="Download menu.pdf").last
    expect(document.locator(".status")).to_have_text(SENT)
    expect(page.locator("#attach-tray")).to_be_hidden()
    expect(page.locator("#reply-text")).to_have_value("")


def test_start_a_conversation_with_a_template(page: Any, stack: Stack) -> None:
    sign_in(page, stack.tenant)
    page.get_by_role("link", name="New WhatsApp conversation").click()
    page.wait_for_url("**/conversations/new")
    template = page.locator("details.tpl[data-name='booking_confirmation']")
    template.locator("summary").click()
    form = template.locator("form")
    fill_booking(form)
    page.get_by_label("Customer's phone number").fill("call me")
    form.get_by_role("button", name="Start the conversation").click()
    expect(form.locator(".tpl-error")).to_contain_text("no letters")
    expect(page.locator("#nc-to")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Customer's phone number").fill("+34 622 33 44 55")
    form.get_by_role("button", name="Start the conversation").click()
    page.wait_for_url(re.compile(r".*/inbox\?c="))
    expect(page.locator(".thread-head h2")).to_contain_text("+34622334455")
    sent = page.locator("#messages li.msg.outbound", has_text="Booking confirmed, Olga").last
    expect(sent.locator(".status")).to_have_text(SENT)


def test_see_a_button_replys_payload(page: Any, stack: Stack) -> None:
    chat = stack.tenant.chats["whatsapp"]
    template = {
        "name": "booking_confirmation",
        "language": "en_US",
        "parameters": {"header": ["Lena"], "body": ["Lena", "2", "Sunday", "13:00"]},
    }
    queued = stack.http.post(f"/api/conversations/{chat}/messages", json={"template": template})
    assert queued.status_code == 202, queued.text
    wamid = stack.settled(queued.json()["id"], "sent", "delivered", "read")["external_message_id"]
    reply_id = f"wamid.{uuid.uuid4().hex}"
    delivery = samples.whatsapp_message(
        phone_number_id=stack.tenant.account_ids["whatsapp"],
        waba_id=stack.tenant.wabas["whatsapp"],
        wa_id=stack.tenant.contacts["whatsapp"],
        name="Lena",
        message_id=reply_id,
        timestamp=int(time.time()),
        kind="button",
        content={"payload": "CANCEL_13", "text": "Cancel booking"},
        context_id=wamid,
    )
    body = body_of(delivery)
    answer = httpx.post(
        f"{stack.pipe.ingress_url}/webhooks/whatsapp",
        content=body,
        headers={"X-Hub-Signature-256": sign(body, APP_SECRET), "Content-Type": "application/json"},
    )
    assert answer.status_code == 200
    wait_until(
        lambda: stack.query("SELECT 1 FROM chat_messages WHERE external_message_id = %s", (reply_id,)),
        what="the button reply stored",
    )
    sign_in(page, stack.tenant)
    page.goto(f"/inbox?c={chat}")
    reply = page.locator("#messages li.msg.inbound", has_text="CANCEL_13").last
    expect(reply.locator(".choice")).to_contain_text(
        "Answered the template “booking confirmation” with its button “Cancel booking”"
    )
    expect(reply.locator(".payload code")).to_have_text("CANCEL_13")
