"""The inbox's AI actions end to end: inbox API -> RabbitMQ -> suggester -> a fake OpenAI-compatible
model on a real socket. Rewrite, shorten and translate of the owner's draft, the limit in words, the
built-in suggester's note when the model fails; never anything sent."""

from __future__ import annotations

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
    running_ai_inbox,
    running_suggester,
    sent_count,
    sql,
)
from fake_openai import FakeOpenAI
from inbox_support import SeededTenant, seed

from ai_suggester.context import Budget
from ai_suggester.prompt import TASKS
from inbox_api.assistant.service import NO_DRAFT
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
DRAFT = "hi!! yes we r open tonight til 22:30, come by"


@pytest.fixture(scope="module")
def fake() -> FakeOpenAI:
    return FakeOpenAI()


@pytest.fixture(scope="module")
def model_settings(settings: Settings, fake: FakeOpenAI) -> Iterator[Settings]:
    with fake_model(settings, fake) as model:
        yield model


@pytest.fixture(scope="module")
def tenants(settings: Settings) -> tuple[SeededTenant, SeededTenant]:
    suffix = uuid.uuid4().hex[:6]
    return seed(settings, f"aia-{suffix}"), seed(settings, f"aial-{suffix}")


@pytest.fixture(scope="module")
def http(model_settings: Settings, tenants: Any) -> Iterator[httpx.Client]:
    budget = Budget(requests_per_minute=100, tokens_per_day=1_000_000)
    with (
        running_suggester(model_settings, budget=budget, model_timeout_s=1.5),
        running_ai_inbox(model_settings, suggest_timeout_s=4.0) as url,
        httpx.Client(base_url=url, timeout=20) as client,
    ):
        for tenant in tenants:
            assert client.put("/api/assistant", json=DOC, headers=bearer(client, tenant)).status_code == 200
        yield client


def ask(
    http: httpx.Client, tenant: SeededTenant, body: dict[str, Any] | None = None, channel: str = "whatsapp"
) -> dict[str, Any]:
    response = http.post(
        f"/api/conversations/{tenant.chats[channel]}/suggestions",
        headers=bearer(http, tenant, "manager"),
        json=body,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_call_without_a_body_still_suggests(
    http: httpx.Client, fake: FakeOpenAI, tenants: Any, settings: Settings
) -> None:
    a, _ = tenants
    fake.mode = "ok"
    customer_says(settings, a, "whatsapp", "are you open tonight?")
    got = ask(http, a)
    assert (got["text"], got["action"], got["source"]) == (fake.answer, "suggest", "fake-model")
    assert (got["language"], got["language_name"], got["limited"], got["note"]) == (
        "en",
        "English",
        False,
        None,
    )
    assert TASKS["suggest"] in fake.requests[-1]["messages"][0]["content"]


def test_rewrite_sends_the_draft_to_the_model_and_returns_a_draft_only(
    http: httpx.Client, fake: FakeOpenAI, tenants: Any, settings: Settings
) -> None:
    a, _ = tenants
    fake.mode = "ok"
    fake.answer = "Ciao! Yes, we're open tonight until 22:30. See you soon!"
    try:
        got = ask(http, a, {"action": "rewrite", "draft": DRAFT})
    finally:
        fake.answer = FakeOpenAI.answer
    assert got["text"] == "Ciao! Yes, we're open tonight until 22:30. See you soon!"
    assert got["action"] == "rewrite"
    assert got["suggestion_id"]
    system, user = (m["content"] for m in fake.requests[-1]["messages"][:2])
    assert TASKS["rewrite"] in system
    assert "warm and casual" in system  # the brand tone
    assert f"<owner_draft>\n{DRAFT}\n</owner_draft>" in user
    assert DRAFT not in system  # the draft is data, never instructions
    assert sent_count(settings, a) == (0, 0)  # into the composer only
    # Recorded like a suggestion: the review log names what was done.
    log = http.get("/api/assistant/suggestions", headers=bearer(http, a)).json()
    assert (log[0]["id"], log[0]["action"], log[0]["requested_by"]) == (
        got["suggestion_id"], "rewrite", a.users["manager"],
    )  # fmt: skip


def test_translate_writes_in_the_customers_language_and_names_it(
    http: httpx.Client, fake: FakeOpenAI, tenants: Any, settings: Settings
) -> None:
    a, _ = tenants
    fake.mode = "ok"
    customer_says(settings, a, "facebook", "Hallo! Habt ihr heute Abend noch einen Tisch für zwei frei?")
    got = ask(http, a, {"action": "translate", "draft": "Yes, we have a table for two at 20:00."}, "facebook")
    assert (got["action"], got["language"], got["language_name"]) == ("translate", "de", "German")
    assert got["text"] == fake.answer
    system, user = (m["content"] for m in fake.requests[-1]["messages"][:2])
    assert TASKS["translate"] in system
    assert "write in German (the customer's language, code de)" in system
    assert "Yes, we have a table for two at 20:00." in user
    # The page names the translate button after it.
    told = http.get(f"/api/conversations/{a.chats['facebook']}/assistant", headers=bearer(http, a))
    assert told.json() == {"language": "de", "language_name": "German"}
    assert sent_count(settings, a) == (0, 0)


def test_an_empty_draft_is_refused_in_words_without_asking(
    http: httpx.Client, fake: FakeOpenAI, tenants: Any
) -> None:
    a, _ = tenants
    before = len(fake.requests)
    got = ask(http, a, {"action": "shorten", "draft": "   "})
    assert (got["text"], got["reason"]) == (None, NO_DRAFT)
    assert len(fake.requests) == before
    bad = http.post(
        f"/api/conversations/{a.chats['whatsapp']}/suggestions",
        headers=bearer(http, a),
        json={"action": "send", "draft": "x"},
    )
    assert bad.status_code == 422


def test_a_failing_model_falls_back_with_a_note(
    http: httpx.Client, fake: FakeOpenAI, tenants: Any, settings: Settings
) -> None:
    a, _ = tenants
    fake.mode = "fail"
    try:
        customer_says(settings, a, "whatsapp", "are you open tonight?")
        got = ask(http, a)
        assert got["source"] == "local"
        assert got["fell_back"] is True
        assert "22:30" in got["text"]
        assert got["note"] == "The AI model did not answer. This is the simple built-in suggestion."
        long = (
            "Hello and thank you so much for your kind message, we really appreciate it. "
            "Yes, we are open tonight until 22:30 and the kitchen takes orders until 21:45. "
            "We look forward to seeing you and hope you have a lovely day."
        )
        short = ask(http, a, {"action": "shorten", "draft": long})
        assert short["text"]
        assert len(short["text"]) < len(long)
        assert "22:30" in short["text"]
        assert short["note"].startswith("The AI model did not answer. Shortened without an AI model")
        # What cannot be done without the model says so, instead of "no suggestion".
        cannot = ask(http, a, {"action": "translate", "draft": "Our chef makes the pasta by hand."})
        assert cannot["text"] is None
        assert cannot["reason"].startswith("The AI model did not answer. I can't translate this")
    finally:
        fake.mode = "ok"
    assert sent_count(settings, a) == (0, 0)


def test_the_limit_says_when_to_try_again(http: httpx.Client, tenants: Any, settings: Settings) -> None:
    _, limited = tenants
    sql(settings, limited, "UPDATE assistant_settings SET suggestions_per_minute = 2")  # `omni ai limits`
    customer_says(settings, limited, "whatsapp", "are you open tonight?")
    answers = [ask(http, limited, {"action": "shorten", "draft": DRAFT}) for _ in range(3)]
    assert [a["limited"] for a in answers] == [False, False, True]
    last = answers[-1]
    assert last["text"] is None
    assert 1 <= last["retry_after_s"] <= 60
    assert last["reason"] == f"AI limit reached, try again in {last['retry_after_s']} s"


def test_another_restaurants_conversation_is_not_found(http: httpx.Client, tenants: Any) -> None:
    a, other = tenants
    chat = other.chats["facebook"]
    body = {"action": "translate", "draft": "Hello"}
    asked = http.post(f"/api/conversations/{chat}/suggestions", headers=bearer(http, a), json=body)
    told = http.get(f"/api/conversations/{chat}/assistant", headers=bearer(http, a))
    assert (asked.status_code, told.status_code) == (404, 404)
