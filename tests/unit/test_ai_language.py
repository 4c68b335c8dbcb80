"""The customer's language: an offline detector over the latest messages; unsure, the restaurant's."""

from __future__ import annotations

import pytest

from ai_suggester.language import conversation_language, detect

SAMPLES = {
    "en": ["Can I bring my dog?", "Is there parking nearby?", "are you open tonight?"],
    "de": ["Darf ich meinen Hund mitbringen?", "Habt ihr heute Abend geöffnet?", "Gibt es Parkplätze?"],
    "fr": ["Je peux venir avec mon chien ?", "Vous êtes ouverts ce soir ?"],
    "es": ["¿Puedo ir con mi perro?", "¿Tienen platos veganos?"],
    "it": ["Posso portare il cane?", "C'è un parcheggio vicino?"],
    "pt": ["Posso levar o meu cão?", "Vocês têm opções veganas?"],
    "nl": ["Mag mijn hond mee?", "Zijn jullie vanavond open?"],
    "tr": ["Köpeğimi getirebilir miyim?", "Bu akşam açık mısınız?"],
}


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, texts in SAMPLES.items() for t in texts])
def test_short_guest_questions_are_told_apart(lang: str, text: str) -> None:
    assert detect(text, "en") == lang


def test_too_little_text_keeps_the_default() -> None:
    assert detect("ok") is None
    assert detect("👍👍") is None
    assert conversation_language(["ok"], "de") == "de"
    assert conversation_language([], "it") == "it"


def test_a_close_call_goes_to_the_restaurants_language() -> None:
    # Its trigrams lean Italian; for an English restaurant it is English.
    assert detect("what is the wifi password?", "en") == "en"


def test_the_latest_messages_decide() -> None:
    history = ["Hello, do you have a table?", "Hallo, wir sind vier Personen", "Habt ihr heute noch Platz?"]
    assert conversation_language(history, "en") == "de"
    assert conversation_language(["Guten Abend, wir möchten einen Tisch", "ok"], "en") == "de"
