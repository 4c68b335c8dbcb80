"""In Chromium: ask for a suggestion, edit the draft, send it; the suggestion is recorded as edited."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from ai_support import DOC, bearer, customer_says, running_ai_inbox, running_suggester, sent_count, sql
from inbox_support import PASSWORD, SeededTenant, seed
from playwright.sync_api import expect

from ai_suggester.context import Budget
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"aib-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def inbox_url(settings: Settings, tenant: SeededTenant) -> Iterator[str]:
    with running_suggester(settings, budget=Budget()), running_ai_inbox(settings) as url:
        with httpx.Client(base_url=url) as http:
            assert http.put("/api/assistant", json=DOC, headers=bearer(http, tenant)).status_code == 200
        yield url


@pytest.fixture
def page(inbox_url: str, browser: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=inbox_url)
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def sign_in(page: Any, tenant: SeededTenant, role: str) -> None:
    page.goto("/login")
    page.get_by_label("Restaurant").fill(tenant.slug)
    page.get_by_label("Email").fill(tenant.users[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox**")


def test_suggest_edit_and_send(page: Any, tenant: SeededTenant, settings: Settings) -> None:
    customer_says(settings, tenant, "whatsapp", "are you open tonight?")
    sign_in(page, tenant, "business_owner")
    page.goto(f"/inbox?c={tenant.chats['whatsapp']}")
    page.get_by_role("button", name="Suggest a reply").click()
    box = page.locator("#reply-text")
    expect(box).to_have_value(re.compile("22:30"))  # the page's CSP forbids eval: no wait_for_function
    draft = box.input_value()
    assert "Tue-Sun 12:00-22:30" in draft
    assert "AI-suggested draft" in page.locator("#suggest-status").inner_text()
    assert sent_count(settings, tenant) == (0, 0)  # shown, not sent
    box.fill(draft + " Table for two?")
    page.get_by_role("button", name="Send", exact=True).click()
    page.locator("#messages").get_by_text("Table for two?").wait_for()
    assert sent_count(settings, tenant) == (1, 1)
    assert sql(settings, tenant, "SELECT outcome FROM suggestions WHERE outcome IS NOT NULL") == [("edited",)]
    assert box.input_value() == ""


def test_settings_page_saves_the_assistant_document(page: Any, tenant: SeededTenant) -> None:
    sign_in(page, tenant, "business_owner")  # the AI settings are the owner's
    page.goto("/settings")
    page.get_by_role("link", name="AI-suggested replies").click()
    assert page.get_by_label("Turn on AI suggestions").is_checked()
    assert "Vegan Lasagne | 13.00" in page.locator("#ai-menu").input_value()
    page.locator("#ai-faq").fill("Do you have a terrace? | Yes, with 20 seats.")
    page.get_by_role("button", name="Save AI settings").click()
    page.get_by_text("AI settings saved.").wait_for()
    assert "Yes, with 20 seats." in page.locator("#ai-faq").input_value()
