"""The built-in suggester's honest actions on the owner's draft: shorten, translate, rewrite."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ai_suggester.actions import (
    ALREADY_SHORT,
    CANNOT_REWRITE,
    CANNOT_TRANSLATE,
    parse_builtin,
    rewrite,
    shorten,
    translate,
)
from ai_suggester.local import suggest_locally
from ai_suggester.retrieval import Hit
from omni_cli.commands.demo_assistant import ASSISTANT
from omni_common.contracts.assistant import AssistantDocument, FallbackSentences
from omni_common.contracts.assistant_sentences import DEFAULT_SENTENCES, LANGUAGES

DOC = AssistantDocument.model_validate(ASSISTANT)
LONG = (
    "Hi! Thanks so much for asking about our terrace, we love it too. "
    "It has 20 seats from May to September. "
    "On sunny evenings it fills quickly, so come a little early if you can. "
    "Hope to see you soon!"
)


def test_shorten_keeps_whole_sentences_with_the_facts() -> None:
    done = shorten(LONG, DOC, "en")
    assert done.text is not None
    assert "20 seats from May to September" in done.text
    assert len(done.text) <= 0.6 * len(LONG)
    assert all(s in LONG for s in done.text.split(". ")[:-1])  # nothing reworded
    assert "nothing was reworded" in done.note


def test_a_short_draft_is_not_shortened() -> None:
    assert shorten("We open at 12.", DOC, "en").text is None
    assert shorten("We open at 12.", DOC, "en").note == ALREADY_SHORT


@given(st.lists(st.text(alphabet="abcdefgh 0123", min_size=1, max_size=60), min_size=1, max_size=8))
def test_shorten_never_adds_text(parts: list[str]) -> None:
    draft = ". ".join(p.strip() or "x" for p in parts) + "."
    done = shorten(draft, DOC, "en")
    if done.text is not None:
        assert len(done.text) < len(draft)
        for sentence in done.text.split(". "):
            assert sentence.rstrip(".") in draft


def test_translate_turns_built_in_sentences_into_the_customers_language() -> None:
    hits = [Hit("hours", 0, "en", "Opening hours", "", 3.0)]
    english = suggest_locally("are you open tonight?", DOC, hits, "en").text
    german = translate(english, DOC, "de")
    assert german.text == (
        "Hallo! Unsere Öffnungszeiten: Tue-Sun 12:00-23:00 (kitchen until 22:00), closed Mondays. Bis bald!"
    )
    assert "without an AI model" in german.note
    french = translate(german.text, DOC, "fr")
    assert french.text is not None
    assert french.text.startswith("Bonjour ! Nos horaires d'ouverture")


def test_translate_says_plainly_it_cannot_translate_the_owners_words() -> None:
    done = translate("Hi! The terrace opens in May, bring a jacket.", DOC, "de")
    assert done.text is None
    assert done.note == CANNOT_TRANSLATE


def test_every_language_has_every_sentence_with_the_same_placeholders() -> None:
    english = DEFAULT_SENTENCES["en"]
    assert set(LANGUAGES) == set(DEFAULT_SENTENCES)
    assert set(english) == set(FallbackSentences.model_fields)
    for lang, sentences in DEFAULT_SENTENCES.items():
        assert set(sentences) == set(english), lang
        for key, text in sentences.items():
            for name in ("hours", "items", "name", "allergens", "phone", "address"):
                assert (f"{{{name}}}" in text) == (f"{{{name}}}" in english[key]), (lang, key)


def test_every_built_in_reply_can_be_read_back_in_every_language() -> None:
    menu = [Hit("menu", 1, "en", "Vegan Lasagne", "", 3.0), Hit("menu", 2, "en", "Chickpea Curry", "", 3.0)]
    for lang in LANGUAGES:
        draft = suggest_locally("vegan?", DOC, menu, lang).text
        pieces = parse_builtin(draft, DOC)
        assert pieces is not None, draft
        assert [key for _, key, _ in pieces] == ["hi", "menu", "bye"]


def test_rewrite_adds_only_the_tones_greeting_and_sign_off() -> None:
    done = rewrite("The terrace opens in May.", DOC, "en")
    assert done.text == "Hi! The terrace opens in May. Hope to see you soon!"
    assert "wording is unchanged" in done.note
    again = rewrite(done.text, DOC, "en")
    assert again.text is None
    assert again.note == CANNOT_REWRITE
