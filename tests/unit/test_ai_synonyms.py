"""Query expansion: a question's words become groups of alternatives (concepts across languages)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ai_suggester.context import Budget
from ai_suggester.synonyms import expand, fold
from omni_cli.commands.demo_assistant import ASSISTANT
from omni_common.contracts.assistant import AssistantDocument
from omni_common.tenancy.assistant import TenantLimits
from omni_common.tenancy.assistant_knowledge import document_hash, knowledge_rows, ts_config


def concepts(question: str) -> list[str | None]:
    return [g.concept for g in expand(question)]


def test_topic_words_in_any_language_name_the_same_concept() -> None:
    for question in ("Is there a car park?", "Gibt es Parkplätze?", "¿Hay aparcamiento?", "Otopark var mı?"):
        assert "parking" in concepts(question), question
    for question in ("plant-based options?", "vegane Gerichte?", "plats végétaliens ?"):
        assert "vegan" in concepts(question), question
    assert "booking" in concepts("Can I reserve a table?")
    assert "booking" in concepts("Tisch reservieren")
    assert "wifi" in concepts("what's the wi-fi password")
    assert "kids" in concepts("Habt ihr eine Kinderkarte?")  # a compound's head
    assert "groups" in concepts("Firmenfeier möglich?")


def test_close_by_is_near_not_closing_time() -> None:
    assert concepts("parking close by?") == ["parking", "nearby"]
    assert "hours" in concepts("when do you close?")


def test_filler_words_are_no_topic() -> None:
    assert [g.word for g in expand("Hi, is it possible please?")] == ["is", "it"]


def test_tsquery_text_is_quoted_word_by_word() -> None:
    group = expand("car park")[0]
    assert "('car' <-> 'park')" in group.any_query
    assert "'park':*A" in group.title_query


@given(st.text(max_size=300))
def test_any_text_expands_to_safe_tsquery_operands(text: str) -> None:
    for group in expand(text):
        for query in (group.any_query, group.title_query):
            # Operands are quoted words of letters and digits only: nothing can break out of them.
            assert query.count("'") % 2 == 0
            inner = query.split("'")[1::2]
            assert all(part.isalnum() for part in inner), query


def test_fold_is_like_unaccent() -> None:
    assert fold("Öffnungszeiten Straße Çocuk") == "offnungszeiten strasse cocuk"


def test_knowledge_rows_carry_each_entrys_language() -> None:
    doc = AssistantDocument.model_validate(ASSISTANT)
    rows = knowledge_rows(doc)
    kinds = [r.kind for r in rows]
    assert kinds.count("faq") == len(doc.faq)
    assert kinds.count("menu") == len(doc.menu)
    assert kinds.count("policy") == 2  # one row per sentence of the policies
    assert {"hours", "address", "phone"} <= set(kinds)
    german = next(r for r in rows if r.title == "Sind Hunde erlaubt?")
    assert german.language == "de"
    lasagne = next(r for r in rows if r.title == "Vegan Lasagne")
    assert "Allergens: gluten, celery" in lasagne.body
    assert ts_config("de") == "german"
    assert ts_config("xx") == "simple"
    assert document_hash(doc) == document_hash(doc.model_copy(update={"enabled": False}))
    assert document_hash(doc) != document_hash(doc.model_copy(update={"faq": []}))


def test_operator_overrides_replace_the_defaults() -> None:
    defaults = Budget(requests_per_minute=30, tokens_per_day=200_000)
    assert defaults.for_tenant(TenantLimits()) == defaults
    assert defaults.for_tenant(TenantLimits(5, 0)) == Budget(5, 0)
    assert defaults.for_tenant(TenantLimits(None, 1000)) == Budget(30, 1000)
