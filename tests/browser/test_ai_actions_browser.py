"""In Chromium at 1280×800 and 390×844: the owner's draft rewritten and translated into the composer
(never sent), the translate button named after the customer's language, the AI limit and the model's
failure said in words."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from ai_support import (
    DOC,
    bearer,
    customer_says,
    fake_model,
    owner_id,
    running_ai_inbox,
    running_suggester,
    sent_count,
    sql,
)
from fake_openai import FakeOpenAI
from inbox_support import PASSWORD, SeededTenant, seed
from playwright.sync_api import expect

from ai_suggester.context import Budget
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT_MS = 15_000
VIEWPORTS = [{"width": 1280, "height": 800}, {"width": 390, "height": 844}]
GERMAN = "Guten Abend, wir haben heute um 20 Uhr einen Tisch für zwei Personen für Sie."
TONE = "Ciao! We'd love to have you tonight: a table for two at 20:00 is yours."


@pytest.fixture(scope="module")
def fake() -> FakeOpenAI:
    return FakeOpenAI()


@pytest.fixture(scope="module")
def tenants(settings: Settings) -> tuple[SeededTenant, SeededTenant]:
    suffix = uuid.uuid4().hex[:6]
    return seed(settings, f"aiab-{suffix}"), seed(settings, f"aiabl-{suffix}")


@pytest.fixture(scope="module")
def inbox_url(settings: Settings, fake: FakeOpenAI, tenants: Any) -> Iterator[str]:
    with fake_model(settings, fake) as model:
        budget = Budget(requests_per_minute=100, tokens_per_day=1_000_000)
        with (
            running_suggester(model, budget=budget, model_timeout_s=1.5),
            running_ai_inbox(model, suggest_timeout_s=5.0) as url,
        ):
            with httpx.Client(base_url=url) as http:
                for tenant in tenants:
                    assert (
                        http.put("/api/assistant", json=DOC, headers=bearer(http, tenant)).status_code == 200
                    )
            for tenant in tenants:
                customer_says(
                    settings, tenant, "facebook", "Hallo! Habt ihr heute Abend einen Tisch für zwei?"
                )
            yield url


@pytest.fixture(params=VIEWPORTS, ids=lambda v: f"{v['width']}x{v['height']}")
def page(request: pytest.FixtureRequest, inbox_url: str, browser: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=inbox_url, viewport=request.param)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def open_chat(page: Any, tenant: SeededTenant, channel: str = "facebook") -> None:
    page.goto("/login")
    page.get_by_label("Restaurant").fill(tenant.slug)
    page.get_by_label("Email").fill(tenant.users["business_owner"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox**")
    page.goto(f"/inbox?c={tenant.chats[channel]}")


def within_width(page: Any, locator: Any) -> None:
    box = locator.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= page.viewport_size["width"] + 1


def improve(page: Any) -> None:
    """Open "Improve my draft" (the actions are folded behind it so the composer stays one row)."""
    menu = page.locator("details.ai-menu")
    if menu.get_attribute("open") is None:
        menu.locator("summary").click()
    expect(page.locator("button[data-ai-action=rewrite]")).to_be_visible()


def test_translate_and_rewrite_land_in_the_composer_unsent(
    page: Any, tenants: Any, fake: FakeOpenAI, settings: Settings
) -> None:
    tenant, _ = tenants
    fake.mode = "ok"
    open_chat(page, tenant)
    box, status = page.locator("#reply-text"), page.locator("#suggest-status")
    translate = page.locator("button[data-ai-action=translate]")
    expect(translate).to_have_text(re.compile(r"^Translate to (the customer's language|German)$"))
    improve(page)
    within_width(page, translate)

    fake.answer = GERMAN
    box.fill("Good evening, we have a table for two at 8 pm for you.")
    improve(page)
    translate.click()
    expect(box).to_have_value(GERMAN)
    expect(status).to_have_text(
        "Translated to German: check and edit it, then press Send. Nothing is sent until you do."
    )
    expect(translate).to_have_text("Translate to German")

    fake.answer = TONE
    box.fill("table for 2 at 20:00 ok")
    improve(page)
    page.get_by_role("button", name="Rewrite in our tone").click()
    expect(box).to_have_value(TONE)
    expect(status).to_contain_text("Rewritten in your tone: check and edit it")
    assert sent_count(settings, tenant) == (0, 0)  # in the composer, not sent
    assert fake.requests[-1]["messages"][1]["content"].count("table for 2 at 20:00 ok") == 1

    page.reload()  # the language is remembered: the button is named at once
    expect(page.locator("button[data-ai-action=translate]")).to_have_text("Translate to German")
    fake.answer = FakeOpenAI.answer


def test_the_limit_and_the_models_failure_are_said_plainly(
    page: Any, tenants: Any, fake: FakeOpenAI, settings: Settings
) -> None:
    _, limited = tenants
    # One request a minute, already used by someone else a moment ago (`omni ai limits` sets the limit).
    sql(settings, limited, "UPDATE assistant_settings SET suggestions_per_minute = 1")
    sql(
        settings, limited,
        "INSERT INTO suggestions (chat_id, requested_by, source, text) VALUES (%s, %s, 'local', 'x')",
        (limited.chats["whatsapp"], owner_id(settings, limited)),
    )  # fmt: skip
    customer_says(settings, limited, "whatsapp", "are you open tonight?")
    open_chat(page, limited, "whatsapp")
    box, status = page.locator("#reply-text"), page.locator("#suggest-status")
    box.fill("We are open until 22:30 tonight.")
    improve(page)
    page.get_by_role("button", name="Make shorter").click()
    expect(status).to_have_text(re.compile(r"^AI limit reached, try again in \d{1,2} s\.$"))
    expect(box).to_have_value("We are open until 22:30 tonight.")  # the owner's draft is kept

    sql(settings, limited, "UPDATE assistant_settings SET suggestions_per_minute = 100")
    fake.mode = "fail"
    try:
        page.get_by_role("button", name="Suggest a reply").click()
        expect(status).to_have_text(re.compile(r"^The AI model did not answer\. This is the simple built-in"))
        expect(box).to_have_value(re.compile("22:30"))
    finally:
        fake.mode = "ok"
    assert sent_count(settings, limited) == (0, 0)


def test_ai_settings_take_knowledge_in_several_languages_and_show_the_figures(
    page: Any, tenants: Any
) -> None:
    tenant, _ = tenants
    open_chat(page, tenant)
    page.goto("/settings/assistant")
    figures = page.get_by_role("region", name="How the AI helped in the last 30 days")
    expect(figures).to_contain_text("Sent as they were")
    expect(figures).to_contain_text("Estimated AI model cost")
    within_width(page, figures)
    faq = "Is there parking? | Yes, behind us.\nGibt es Parkplätze? | Ja, hinter dem Haus. | German"
    page.locator("#ai-faq").fill(faq)
    page.locator("summary", has_text=re.compile("^German")).click()
    page.locator("#ai-sentence_de_no_answer").fill("Danke! Wir melden uns gleich.")
    page.get_by_role("button", name="Save AI settings").click()
    page.get_by_text("AI settings saved.").wait_for()
    assert page.locator("#ai-faq").input_value() == faq
    expect(page.get_by_text("German (your wording)")).to_be_visible()
    page.locator("#ai-faq").fill("Q? | A. | Klingon")
    page.get_by_role("button", name="Save AI settings").click()
    expect(page.get_by_role("alert")).to_contain_text('Unknown language "Klingon"')
