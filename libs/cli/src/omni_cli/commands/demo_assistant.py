"""The demo restaurant's AI knowledge: profile, menu, and a FAQ written in English and German.

The local suggester (no model configured) answers "are you open tonight?", "do you have vegan
dishes?" and the FAQ however it is asked; a German guest gets the German entries.
"""

from __future__ import annotations

from typing import Any


def _faq(question: str, answer: str, language: str) -> dict[str, str]:
    return {"question": question, "answer": answer, "language": language}


FAQ_EN: list[dict[str, str]] = [
    _faq("Do you have parking nearby?", "There is a public car park 200 m away on Linienstraße.", "en"),
    _faq("Are dogs allowed?", "Well-behaved dogs are welcome on the terrace.", "en"),
    _faq(
        "Do you have a kids menu?",
        "Yes, children get half portions of any pasta, and we have high chairs.",
        "en",
    ),
    _faq(
        "Can we sit outside?",
        "Our terrace has 20 seats from May to September, first come first served.",
        "en",
    ),
    _faq("Can I pay by card?", "We take all major cards, Apple Pay and cash.", "en"),
    _faq(
        "Do you host private events or large groups?",
        "Groups of up to 30 can book the back room; write to us a week ahead.",
        "en",
    ),
    _faq(
        "Is the restaurant wheelchair accessible?", "Yes, step-free entrance and an accessible toilet.", "en"
    ),
    _faq(
        "Do you have gluten-free options?",
        "The Chickpea Curry is gluten-free, and most pasta can be made with gluten-free pasta.",
        "en",
    ),
]
FAQ_DE: list[dict[str, str]] = [
    _faq(
        "Gibt es Parkplätze in der Nähe?",
        "Ein öffentliches Parkhaus ist 200 m entfernt in der Linienstraße.",
        "de",
    ),
    _faq("Sind Hunde erlaubt?", "Gut erzogene Hunde sind auf der Terrasse willkommen.", "de"),
    _faq(
        "Habt ihr eine Kinderkarte?",
        "Ja, Kinder bekommen jede Pasta als halbe Portion, und wir haben Hochstühle.",
        "de",
    ),
    _faq(
        "Kann man draußen sitzen?",
        "Unsere Terrasse hat von Mai bis September 20 Plätze, ohne Reservierung.",
        "de",
    ),
    _faq("Kann ich mit Karte zahlen?", "Wir nehmen alle gängigen Karten, Apple Pay und Bargeld.", "de"),
    _faq(
        "Kann man bei euch private Feiern oder große Gruppen ausrichten?",
        "Gruppen bis 30 Personen können den hinteren Raum buchen; schreibt uns eine Woche vorher.",
        "de",
    ),
    _faq("Ist das Restaurant barrierefrei?", "Ja, stufenloser Eingang und ein barrierefreies WC.", "de"),
    _faq(
        "Habt ihr glutenfreie Gerichte?",
        "Das Kichererbsen-Curry ist glutenfrei, und die meisten Pasta gibt es auch glutenfrei.",
        "de",
    ),
]

# AI on for the demo tenant, with enough knowledge that the local suggester answers usefully.
ASSISTANT: dict[str, Any] = {
    "enabled": True,
    "profile": {
        "name": "Demo Bistro",
        "address": "Torstraße 1, 10119 Berlin",
        "phone": "+49 30 1234567",
        "opening_hours": "Tue-Sun 12:00-23:00 (kitchen until 22:00), closed Mondays",
        "policies": "Tables for up to 8 can be booked by message or phone; takeaway until 21:30.",
        "language": "en",
    },
    "menu": [
        {"name": "Margherita", "price": "11.50", "allergens": ["gluten", "milk"], "tags": ["vegetarian"]},
        {"name": "Vegan Lasagne", "price": "14.00", "allergens": ["gluten", "celery"], "tags": ["vegan"]},
        {"name": "Chickpea Curry", "price": "13.00", "allergens": [], "tags": ["vegan", "gluten-free"]},
        {"name": "Tiramisu", "price": "7.00", "allergens": ["gluten", "milk", "egg"], "tags": ["vegetarian"]},
    ],
    "faq": FAQ_EN + FAQ_DE,
    "tone": {"description": "warm and casual", "examples": ["Hi! Thanks for your message, see you soon!"]},
}
