"""Suggestions without a model (the default): the local suggester, settings, roles, tenancy, budgets."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from ai_support import DOC, bearer, customer_says, rpc, running_ai_inbox, running_suggester, sent_count, sql
from inbox_support import SeededTenant, genuine_token, seed
from sandbox_server import free_port
from typer.testing import CliRunner

from ai_suggester.context import Budget
from omni_cli.main import app
from omni_common.settings import Settings
from omni_common.tenancy.assistant_stats import AssistantStats, assistant_stats

pytestmark = pytest.mark.integration
RPM = 10  # tenant A asks 9 times in a row below; B then exhausts its own minute


@pytest.fixture(scope="module")
def tenants(settings: Settings) -> tuple[SeededTenant, SeededTenant]:
    suffix = uuid.uuid4().hex[:6]
    return seed(settings, f"ail-a-{suffix}"), seed(settings, f"ail-b-{suffix}")


@pytest.fixture(scope="module")
def suggester_health() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def http(settings: Settings, tenants: Any, suggester_health: str) -> Iterator[httpx.Client]:
    assert settings.openai_base_url is None  # the default: the local suggester
    port = int(suggester_health.rsplit(":", 1)[1])
    with (
        running_suggester(settings, budget=Budget(requests_per_minute=RPM), health_port=port),
        running_ai_inbox(settings, suggest_timeout_s=5) as url,
        httpx.Client(base_url=url, timeout=20) as client,
    ):
        yield client


def ask(http: httpx.Client, tenant: SeededTenant, channel: str = "whatsapp") -> dict[str, Any]:
    response = http.post(
        f"/api/conversations/{tenant.chats[channel]}/suggestions", headers=bearer(http, tenant)
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_ai_is_off_by_default_and_settings_round_trip(http: httpx.Client, tenants: Any) -> None:
    a, _ = tenants
    got = http.get("/api/assistant", headers=bearer(http, a)).json()
    assert got["enabled"] is False
    assert got["menu"] == []
    off = {"text": None, "action": "suggest", "reason": "AI suggestions are off", "limited": False}
    assert ask(http, a) == off
    refused = http.put("/api/assistant", json=DOC, headers=bearer(http, a, "manager"))
    assert refused.status_code == 403  # the AI settings are the owner's
    assert refused.json()["detail"] == "only the owner can change the AI settings"
    saved = http.put("/api/assistant", json=DOC, headers=bearer(http, a))
    assert saved.status_code == 200
    again = http.get("/api/assistant", headers=bearer(http, a)).json()
    assert again["enabled"] is True
    assert again["profile"]["opening_hours"] == DOC["profile"]["opening_hours"]
    assert [m["name"] for m in again["menu"]] == ["Margherita", "Vegan Lasagne"]
    assert (
        http.put("/api/assistant", json={"enabled": True, "bogus": 1}, headers=bearer(http, a)).status_code
        == 422
    )


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("are you open tonight?", ["Tue-Sun 12:00-22:30"]),
        ("do you have vegan dishes?", ["Vegan Lasagne (13.00)"]),
        ("Is there parking nearby?", ["free parking"]),
        ("Habt ihr heute Abend geöffnet?", ["Öffnungszeiten", "Tue-Sun 12:00-22:30"]),
        ("Gibt es vegane Gerichte?", ["Aus unserer Karte", "Vegan Lasagne"]),
        ("Gibt es Parkplätze in der Nähe?", ["nur in einer anderen Sprache", "free parking"]),
        ("where is my order??", ["check with the team"]),
        ("Wo bleibt meine Bestellung?", ["kläre das mit dem Team"]),
    ],
)
def test_local_suggestions_answer_from_the_tenants_data(
    http: httpx.Client, tenants: Any, settings: Settings, question: str, expected: list[str]
) -> None:
    a, _ = tenants
    customer_says(settings, a, "facebook", question)
    got = ask(http, a, "facebook")
    assert got["source"] == "local"
    for part in expected:
        assert part in got["text"]
    row = sql(settings, a, "SELECT source, text, requested_by IS NOT NULL FROM suggestions WHERE id = %s",
              (got["suggestion_id"],))  # fmt: skip
    assert row == [("local", got["text"], True)]


def test_suggestions_never_send_anything(http: httpx.Client, tenants: Any, settings: Settings) -> None:
    a, _ = tenants
    assert sent_count(settings, a) == (0, 0)


def test_another_tenants_conversation_is_404(http: httpx.Client, tenants: Any) -> None:
    a, b = tenants
    response = http.post(f"/api/conversations/{b.chats['whatsapp']}/suggestions", headers=bearer(http, a))
    assert response.status_code == 404
    assert (
        http.post(f"/api/conversations/{uuid.uuid4()}/suggestions", headers=bearer(http, a)).status_code
        == 404
    )


@pytest.mark.parametrize("role", ["staff", "investor", "customer", "super_admin"])
def test_other_roles_are_refused(http: httpx.Client, tenants: Any, settings: Settings, role: str) -> None:
    a, _ = tenants
    forged = genuine_token(settings, a, role)
    headers = {"Authorization": f"Bearer {forged}"}
    assert http.get("/api/assistant", headers=headers).status_code == 403
    assert http.put("/api/assistant", json=DOC, headers=headers).status_code == 403
    assert (
        http.post(f"/api/conversations/{a.chats['whatsapp']}/suggestions", headers=headers).status_code == 403
    )


def test_requests_per_minute_budget_degrades_gracefully(
    http: httpx.Client, tenants: Any, settings: Settings
) -> None:
    _, b = tenants
    assert http.put("/api/assistant", json=DOC, headers=bearer(http, b)).status_code == 200
    customer_says(settings, b, "whatsapp", "are you open tonight?")
    answers = [ask(http, b) for _ in range(RPM + 1)]
    assert all("22:30" in (x["text"] or "") for x in answers[:RPM])
    assert answers[RPM]["text"] is None
    assert answers[RPM]["reason"].startswith("AI limit reached, try again in ")  # plain words, not "none"
    assert http.get("/api/conversations", headers=bearer(http, b)).status_code == 200  # the inbox carries on
    limited = rpc(settings, b)
    assert limited is not None
    assert limited.limited
    assert limited.text is None
    assert limited.retry_after_s is not None
    assert 1 <= limited.retry_after_s <= 60
    # Refused requests are recorded, but do not keep the limit going.
    rows = sql(settings, b, "SELECT count(*) FROM suggestions WHERE reason = 'limited'")
    assert rows[0][0] >= 2


def test_owners_review_the_suggestions_of_their_tenant_only(
    http: httpx.Client, tenants: Any, settings: Settings
) -> None:
    a, b = tenants
    customer_says(settings, a, "facebook", "do you have vegan dishes?")
    got = ask(http, a, "facebook")
    log = http.get("/api/assistant/suggestions", headers=bearer(http, a)).json()
    mine = next(s for s in log if s["id"] == got["suggestion_id"])
    assert mine["text"] == got["text"]
    assert mine["source"] == "local"
    assert mine["requested_by"]
    theirs = http.get("/api/assistant/suggestions", headers=bearer(http, b)).json()
    assert got["suggestion_id"] not in {s["id"] for s in theirs}


def test_the_suggester_is_ready_and_measures_its_handling(
    http: httpx.Client, tenants: Any, suggester_health: str
) -> None:
    _, b = tenants
    ask(http, b)  # at least one request handled by this worker
    assert httpx.get(f"{suggester_health}/healthz", timeout=5).status_code == 200
    assert httpx.get(f"{suggester_health}/readyz", timeout=5).status_code == 200
    metrics = httpx.get(f"{suggester_health}/metrics", timeout=10).text
    assert 'omni_handler_seconds_count{queue="ai.requests"}' in metrics
    assert 'omni_queue_messages{queue="ai.requests",state="ready"}' in metrics


def test_the_operators_limit_for_one_tenant(http: httpx.Client, settings: Settings) -> None:
    c = seed(settings, f"ail-c-{uuid.uuid4().hex[:6]}")
    assert http.put("/api/assistant", json=DOC, headers=bearer(http, c)).status_code == 200
    sql(settings, c, "UPDATE assistant_settings SET suggestions_per_minute = 2")  # as `omni ai limits` does
    customer_says(settings, c, "whatsapp", "are you open tonight?")
    replies = [rpc(settings, c) for _ in range(3)]
    assert [r.limited for r in replies if r is not None] == [False, False, True]


def test_a_german_guest_gets_german_knowledge_and_sentences(http: httpx.Client, settings: Settings) -> None:
    d = seed(settings, f"ail-d-{uuid.uuid4().hex[:6]}")
    doc = DOC | {
        "faq": [
            *DOC["faq"],
            {"question": "Gibt es Parkplätze?", "answer": "Ja, kostenlos hinter dem Haus.", "language": "de"},
        ]
    }
    assert http.put("/api/assistant", json=doc, headers=bearer(http, d)).status_code == 200
    customer_says(settings, d, "whatsapp", "Hallo! Kann man bei euch irgendwo parken?")
    got = rpc(settings, d)
    assert got is not None
    assert got.language == "de"
    assert got.text is not None
    assert "Ja, kostenlos hinter dem Haus." in got.text
    assert "free parking" not in got.text
    customer_says(settings, d, "whatsapp", "Und wie ist das WLAN-Passwort?")
    unknown = rpc(settings, d)
    assert unknown is not None
    assert unknown.text is not None
    assert "kläre das mit dem Team" in unknown.text  # declines, in German
    row = sql(settings, d, "SELECT language, action FROM suggestions WHERE id = %s", (unknown.suggestion_id,))
    assert row == [("de", "suggest")]


def test_owner_actions_without_a_model_say_what_they_did(http: httpx.Client, settings: Settings) -> None:
    e = seed(settings, f"ail-e-{uuid.uuid4().hex[:6]}")
    assert http.put("/api/assistant", json=DOC, headers=bearer(http, e)).status_code == 200
    customer_says(settings, e, "whatsapp", "Habt ihr heute Abend geöffnet?")
    english = "Hi! Our opening hours: Tue-Sun 12:00-22:30, closed Mondays. Hope to see you soon!"
    translated = rpc(settings, e, action="translate", draft=english)
    assert translated is not None
    assert translated.text == "Hallo! Unsere Öffnungszeiten: Tue-Sun 12:00-22:30, closed Mondays. Bis bald!"
    assert translated.source == "local"
    assert "without an AI model" in (translated.note or "")
    own = rpc(settings, e, action="translate", draft="We have a lovely terrace, come early!")
    assert own is not None
    assert own.text is None
    assert "can't translate this without an AI model" in (own.note or "")
    long = (
        "Thanks a lot for your message, we are always happy to hear from our guests. "
        "We are open tonight from 18:00 to 22:30. "
        "It is usually busy after eight, so an earlier table is more relaxed."
    )
    short = rpc(settings, e, action="shorten", draft=long)
    assert short is not None
    assert short.text == "We are open tonight from 18:00 to 22:30."
    rewritten = rpc(settings, e, action="rewrite", draft="The terrace opens in May.")
    assert rewritten is not None
    assert rewritten.text == "Hi! The terrace opens in May. Hope to see you soon!"
    nothing = rpc(settings, e, action="rewrite", draft="   ")
    assert nothing is not None
    assert nothing.text is None
    assert "no draft" in (nothing.reason or "")
    rows = sql(settings, e, "SELECT action, count(*) FROM suggestions GROUP BY action ORDER BY action")
    assert rows == [("rewrite", 1), ("shorten", 1), ("translate", 2)]
    assert sent_count(settings, e) == (0, 0)  # drafts only: nothing leaves the building


def test_the_operator_sets_limits_with_the_cli(
    http: httpx.Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = seed(settings, f"ail-g-{uuid.uuid4().hex[:6]}")
    monkeypatch.setenv("OMNI_DATABASE_URL", settings.database_url)
    saved = structlog.get_config()  # the CLI configures logging onto CliRunner's stream
    try:
        runner = CliRunner()
        shown = runner.invoke(app, ["ai", "limits", g.slug])
        assert shown.exit_code == 0, shown.output
        assert "default suggestions per minute" in shown.output
        done = runner.invoke(app, ["ai", "limits", g.slug, "--per-minute", "3", "--tokens-per-day", "5000"])
        assert done.exit_code == 0, done.output
        assert "3 suggestions per minute, 5000 model tokens per day" in done.output
        query = "SELECT suggestions_per_minute, tokens_per_day, enabled FROM assistant_settings"
        assert sql(settings, g, query) == [(3, 5000, False)]  # the owner's switch untouched
        assert runner.invoke(app, ["ai", "limits", g.slug, "--per-minute", "0"]).exit_code != 0
        cleared = runner.invoke(app, ["ai", "limits", g.slug, "--default"])
        assert cleared.exit_code == 0, cleared.output
        assert sql(settings, g, query) == [(None, None, False)]
        assert runner.invoke(app, ["ai", "limits", "no-such-tenant"]).exit_code != 0
    finally:
        structlog.configure(**saved)


def _stats(settings: Settings, tenant: SeededTenant) -> AssistantStats:
    from omni_common.db.catalog import Catalog, catalog_engine
    from omni_common.db.registry import TenantEngineRegistry

    async def run() -> AssistantStats:
        engine = catalog_engine(settings.database_url)
        registry = TenantEngineRegistry(
            catalog=Catalog(engine), server_url=settings.database_url, connections_per_server=2
        )
        try:
            async with registry.session(tenant.id) as session:
                return await assistant_stats(session)
        finally:
            await registry.close()
            await engine.dispose()

    return asyncio.run(run())


def test_how_well_it_helps_over_the_last_30_days(http: httpx.Client, settings: Settings) -> None:
    f = seed(settings, f"ail-f-{uuid.uuid4().hex[:6]}")
    wa, fb = f.chats["whatsapp"], f.chats["facebook"]
    rows = [
        # chat, action, source, text, outcome, reason, note, age, tokens, prompt, completion
        (wa, "suggest", "gpt-4o-mini", "a", "sent_as_is", None, None, "2 days", 1000, 800, 200),
        (wa, "suggest", "local", "b", "edited", None, None, "1 day", 0, 0, 0),
        (wa, "rewrite", "gpt-4o-mini", "c", None, None, None, "3 hours", 0, 0, 0),
        (wa, "translate", "local", "d", None, None, None, "1 minute", 0, 0, 0),
        (wa, "suggest", "local", None, None, "limited", None, "0 seconds", 0, 0, 0),
        (wa, "shorten", "local", "e", None, None, "The AI model did not answer.", "40 days", 0, 0, 0),
        (fb, "suggest", "local", "f", None, None, "The AI model did not answer.", "10 minutes", 0, 0, 0),
        (
            fb,
            "suggest",
            "gpt-4o-mini",
            "g",
            "sent_as_is",
            None,
            None,
            "5 days",
            500,
            0,
            0,
        ),  # before the split
    ]
    for chat, action, source, text, outcome, reason, note, age, tokens, prompt, completion in rows:
        sql(
            settings,
            f,
            "INSERT INTO suggestions (chat_id, action, source, text, outcome, reason, note, requested_at,"
            " tokens, prompt_tokens, completion_tokens)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, now() - %s::interval, %s, %s, %s)",
            (chat, action, source, text, outcome, reason, note, age, tokens, prompt, completion),
        )
    got = _stats(settings, f)
    assert got.asked == 7
    assert got.asked_by_action == {"suggest": 5, "rewrite": 1, "shorten": 0, "translate": 1}
    assert (got.drafted, got.used_as_is, got.used_edited, got.discarded, got.pending) == (6, 2, 1, 1, 2)
    assert (got.limited, got.fell_back) == (1, 1)
    assert (got.model_tokens, got.prompt_tokens, got.completion_tokens) == (1500, 1300, 200)
    assert got.cost_estimate_usd == pytest.approx((1300 * 0.00015 + 200 * 0.0006) / 1000)


def test_another_tenants_knowledge_never_reaches_a_local_suggestion(
    http: httpx.Client, settings: Settings
) -> None:
    canary = f"CANARY-LOCAL-{uuid.uuid4().hex[:8]}"
    h, i = seed(settings, f"ail-h-{uuid.uuid4().hex[:6]}"), seed(settings, f"ail-i-{uuid.uuid4().hex[:6]}")
    theirs = DOC | {"faq": [{"question": "Is there a secret menu?", "answer": canary}]}
    assert http.put("/api/assistant", json=theirs, headers=bearer(http, i)).status_code == 200
    assert http.put("/api/assistant", json=DOC, headers=bearer(http, h)).status_code == 200
    customer_says(settings, h, "whatsapp", "Is there a secret menu?")
    for action, draft in (
        ("suggest", None),
        ("rewrite", "Hello"),
        ("shorten", "A. B. C."),
        ("translate", "Hi!"),
    ):
        got = rpc(settings, h, action=action, draft=draft)
        assert got is not None
        assert canary not in f"{got.text} {got.note} {got.reason}"
    assert sql(
        settings, h, "SELECT count(*) FROM assistant_knowledge WHERE body LIKE %s", (f"%{canary}%",)
    ) == [(0,)]
    assert sql(
        settings, i, "SELECT count(*) FROM assistant_knowledge WHERE body LIKE %s", (f"%{canary}%",)
    ) == [(1,)]


def test_a_stale_index_is_rebuilt_on_the_next_suggestion(http: httpx.Client, settings: Settings) -> None:
    j = seed(settings, f"ail-j-{uuid.uuid4().hex[:6]}")
    assert http.put("/api/assistant", json=DOC, headers=bearer(http, j)).status_code == 200
    # As after the migration: a document saved before the index existed.
    sql(settings, j, "DELETE FROM assistant_knowledge")
    sql(settings, j, "UPDATE assistant_settings SET knowledge_hash = NULL")
    customer_says(settings, j, "whatsapp", "is there a car park close by?")
    got = rpc(settings, j)
    assert got is not None
    assert "free parking" in (got.text or "")
    assert sql(settings, j, "SELECT count(*) > 0 FROM assistant_knowledge") == [(True,)]
    assert sql(settings, j, "SELECT knowledge_hash IS NOT NULL FROM assistant_settings") == [(True,)]
