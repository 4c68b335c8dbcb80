"""The inbox side of the assistant: answers in words, the settings form's languages and sentences,
the 30-day figures."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from inbox_api.assistant.form import faq_lines, menu_lines, parse_form, sentence_rows
from inbox_api.assistant.service import (
    NO_DRAFT,
    NOTHING_DRAFTED,
    UNANSWERED,
    SuggestAsk,
    answer_words,
    figures,
    limit_words,
    money,
    share,
)
from inbox_api.errors import Invalid
from omni_common.contracts.assistant import SuggestionReply
from omni_common.contracts.assistant_sentences import DEFAULT_SENTENCES
from omni_common.tenancy.assistant_stats import AssistantStats

FORM = {
    "enabled": "on", "name": "Sole", "address": "", "phone": "", "opening_hours": "12-22",
    "policies": "", "menu": "", "faq": "", "tone": "", "examples": "", "language": "English",
}  # fmt: skip


def reply(**fields: object) -> SuggestionReply:
    return SuggestionReply.model_validate({"request_id": uuid.uuid4(), **fields})


def test_the_limit_says_when_to_try_again() -> None:
    assert limit_words(40) == "AI limit reached, try again in 40 s"
    assert limit_words(600) == "AI limit reached, try again in 10 min"
    assert limit_words(3 * 3600) == "AI limit reached, try again in 3 h"
    got = answer_words(reply(limited=True, retry_after_s=40, reason=None), "rewrite")
    assert got == {
        "action": "rewrite", "language": None, "language_name": None, "limited": True,
        "retry_after_s": 40, "note": None, "text": None, "reason": "AI limit reached, try again in 40 s",
    }  # fmt: skip


def test_never_a_bare_no_suggestion() -> None:
    assert answer_words(None, "suggest")["reason"] == UNANSWERED
    assert answer_words(reply(reason="no suggestion"), "suggest")["reason"] == NOTHING_DRAFTED
    assert answer_words(reply(reason=NO_DRAFT), "shorten")["reason"] == NO_DRAFT
    why = answer_words(reply(reason="no suggestion", note="I can't translate this."), "translate")
    assert (why["reason"], why["note"]) == ("I can't translate this.", None)


def test_a_fallback_draft_carries_its_note_and_the_language_in_words() -> None:
    sid = uuid.uuid4()
    got = answer_words(
        reply(text="Hallo!", source="local", suggestion_id=sid, language="de",
              note="The AI model did not answer. This is the simple built-in suggestion."),
        "translate",
    )  # fmt: skip
    assert got["text"] == "Hallo!"
    assert got["suggestion_id"] == str(sid)
    assert got["fell_back"] is True
    assert got["language_name"] == "German"
    assert got["note"].startswith("The AI model did not answer.")
    model = answer_words(reply(text="Hi", source="gpt-x", language="en"), "suggest")
    assert model["fell_back"] is False
    assert model["ai_generated"] is True


def test_the_body_is_optional_and_checked() -> None:
    assert SuggestAsk().action == "suggest"
    with pytest.raises(ValidationError, match="action"):
        SuggestAsk.model_validate({"action": "send"})
    with pytest.raises(ValidationError, match="draft"):
        SuggestAsk.model_validate({"action": "rewrite", "draft": "x" * 4001})


def test_knowledge_lines_carry_their_language_in_plain_words() -> None:
    form = FORM | {
        "menu": "Margherita | 9.50 | | gluten | vegetarian\nSpätzle | 11 | Käse | milk | | German",
        "faq": "Is there parking? | Yes, behind us.\nGibt es Parkplätze? | Ja, hinter dem Haus. | german",
    }
    doc = parse_form(form)
    assert [m.language for m in doc.menu] == [None, "de"]
    assert [f.language for f in doc.faq] == [None, "de"]
    assert doc.profile.language == "en"
    assert faq_lines(doc).splitlines()[1] == "Gibt es Parkplätze? | Ja, hinter dem Haus. | German"
    assert menu_lines(doc).splitlines()[1].endswith("| German")
    assert parse_form(form | {"faq": faq_lines(doc), "menu": menu_lines(doc)}) == doc  # round trip
    with pytest.raises(Invalid, match='Unknown language "Klingon"'):
        parse_form(FORM | {"faq": "Q? | A. | Klingon"})
    assert parse_form(FORM | {"language": "de"}).profile.language == "de"


def test_built_in_sentences_keep_only_the_owners_changes() -> None:
    fields = {
        "sentence_de_no_answer": "Danke! Wir melden uns gleich.",
        "sentence_de_hours": DEFAULT_SENTENCES["de"]["hours"],  # unchanged: stays built in
        "sentence_fr_hi": "  ",
    }
    doc = parse_form(FORM | fields)
    assert set(doc.fallback_sentences) == {"de"}
    assert doc.fallback_sentences["de"].no_answer == "Danke! Wir melden uns gleich."
    assert doc.fallback_sentences["de"].hours == ""
    rows = {r["code"]: r for r in sentence_rows(doc)}
    assert rows["de"]["edited"]
    assert not rows["fr"]["edited"]
    shown = {f["name"]: f["value"] for f in rows["de"]["fields"]}
    assert shown["sentence_de_no_answer"] == "Danke! Wir melden uns gleich."
    assert shown["sentence_de_hours"] == DEFAULT_SENTENCES["de"]["hours"]


def test_the_figures_of_thirty_days() -> None:
    stats = AssistantStats(
        days=30, asked=12, drafted=10, used_as_is=4, used_edited=3, discarded=2, pending=1,
        limited=2, fell_back=1, model_tokens=123_456, cost_estimate_usd=0.0421,
    )  # fmt: skip
    got = dict(figures(stats))
    assert got["Suggestions and draft changes asked for"] == "12"
    assert got["Sent as they were"] == "4 (40 %)"
    assert got["Sent after editing"] == "3 (30 %)"
    assert got["Discarded (never sent)"] == "2 (20 %)"
    assert got["Drafted in the last hour, not sent yet"] == "1"
    assert got["Refused by the AI limit"] == "2"
    assert got["AI model use (tokens)"] == "123,456"
    assert got["Estimated AI model cost"] == "about $0.04"
    assert share(0, 0) == "0"
    assert money(0) == "$0"
    assert money(0.004) == "less than $0.01"
    assert money(12.5) == "about $12.50"
    assert "Drafted in the last hour, not sent yet" not in dict(figures(AssistantStats(days=30, asked=0)))
