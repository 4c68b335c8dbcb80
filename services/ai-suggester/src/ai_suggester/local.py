# ruff: noqa: E501  (templates and keyword tables read better as whole lines)
"""The local suggester: retrieval over the tenant's own FAQ, menu and hours, drafted from templates.

No model and no network: it answers only what the tenant's document says, in English, German or
Spanish (the customer's language where it can tell), and says it will check when nothing matches.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from omni_common.contracts.assistant import AssistantDocument, MenuItem

LANGS = ("en", "de", "es")


def _ws(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Words that say which language a message is in (function words, not topics).
_LANG_WORDS: dict[str, frozenset[str]] = {
    "en": _ws("you do have are is the what any your we i can how when where there tonight today"),
    "de": _ws(
        "ich sie ihr habt haben und ist heute gibt es der die das wir bitte euch ein eine wann wo geöffnet offen abend gerichte kann"
    ),
    "es": _ws(
        "tienen ustedes hoy qué que el la los las hay para por favor está están son abierto abren noche platos puedo dónde cuándo"
    ),
}

# Topic keywords per language, matched as word prefixes (so "vegano" / "veganos" both hit "vegan").
_TOPICS: dict[str, dict[str, tuple[str, ...]]] = {
    "hours": {
        "en": ("open", "hour", "close", "closing", "tonight", "today", "tomorrow", "sunday", "weekend"),
        "de": ("geöffnet", "offen", "öffnungszeit", "geschlossen", "heute", "abend", "morgen", "sonntag"),
        "es": ("abiert", "abren", "horario", "hora", "cierra", "hoy", "noche", "mañana", "domingo"),
    },
    "vegan": {"en": ("vegan",), "de": ("vegan",), "es": ("vegan",)},
    "vegetarian": {"en": ("vegetarian", "veggie"), "de": ("vegetari",), "es": ("vegetarian",)},
    "gluten": {"en": ("gluten", "coeliac", "celiac"), "de": ("gluten", "zöliak"), "es": ("gluten", "celiac")},
    "allergens": {
        "en": ("allerg", "nut", "peanut", "contain", "lactose", "dairy"),
        "de": ("allerg", "nüss", "nuss", "enthält", "laktose"),
        "es": ("alerg", "alérg", "fruto", "contiene", "lactosa"),
    },
    "reservation": {
        "en": ("book", "reserv", "table"),
        "de": ("reservier", "buchen", "tisch"),
        "es": ("reserv", "mesa"),
    },
    "delivery": {
        "en": ("deliver", "takeaway", "take-away", "pickup", "pick-up"),
        "de": ("liefer", "abhol", "mitnehm"),
        "es": ("domicilio", "entrega", "llevar", "recoger"),
    },
    "address": {
        "en": ("where", "address", "located", "find you"),
        "de": ("adresse", "wo "),
        "es": ("dónde", "direcci"),
    },
    "phone": {
        "en": ("phone", "call", "number"),
        "de": ("telefon", "anruf", "nummer"),
        "es": ("teléfono", "llamar"),
    },
    # Data the local suggester never has: it must not pretend to.
    "unknown_data": {
        "en": ("order status", "my order", "refund", "payment", "paid", "charge", "invoice"),
        "de": ("bestellung", "rückerstattung", "zahlung", "bezahlt", "rechnung"),
        "es": ("pedido", "reembolso", "pago", "pagado", "factura"),
    },
}

_T: dict[str, dict[str, str]] = {
    "en": {
        "hi": "Hi!",
        "hi_formal": "Good day,",
        "bye": "Hope to see you soon!",
        "bye_formal": "We look forward to welcoming you.",
        "hours": "Our opening hours: {hours}.",
        "vegan_yes": "Yes, we have vegan dishes: {items}.",
        "veggie_yes": "Yes, we have vegetarian dishes: {items}.",
        "gluten_yes": "These dishes are gluten-free: {items}.",
        "diet_none": "I can't find {what} dishes on our menu; let me check with the kitchen and get back to you.",
        "item": "{name}{price}: {description}",
        "allergens": "{name} contains: {allergens}.",
        "no_allergens": "No allergens are listed for {name}; please tell us about any allergy so the kitchen can confirm.",
        "reservation": "{policies}",
        "phone": "You can call us on {phone}.",
        "address": "You'll find us at {address}.",
        "unknown": "Thanks for your message! I don't have that information here; let me check with the team and get back to you shortly.",
        "vegan": "vegan",
        "vegetarian": "vegetarian",
        "gluten": "gluten-free",
    },
    "de": {
        "hi": "Hallo!",
        "hi_formal": "Guten Tag,",
        "bye": "Bis bald!",
        "bye_formal": "Wir freuen uns auf Ihren Besuch.",
        "hours": "Unsere Öffnungszeiten: {hours}.",
        "vegan_yes": "Ja, wir haben vegane Gerichte: {items}.",
        "veggie_yes": "Ja, wir haben vegetarische Gerichte: {items}.",
        "gluten_yes": "Diese Gerichte sind glutenfrei: {items}.",
        "diet_none": "Ich finde keine {what} Gerichte auf unserer Karte; ich frage in der Küche nach und melde mich.",
        "item": "{name}{price}: {description}",
        "allergens": "{name} enthält: {allergens}.",
        "no_allergens": "Für {name} sind keine Allergene angegeben; bitte nennen Sie uns Ihre Allergie, damit die Küche es bestätigen kann.",
        "reservation": "{policies}",
        "phone": "Sie erreichen uns unter {phone}.",
        "address": "Sie finden uns hier: {address}.",
        "unknown": "Danke für Ihre Nachricht! Diese Information habe ich hier nicht; ich kläre das mit dem Team und melde mich gleich.",
        "vegan": "veganen",
        "vegetarian": "vegetarischen",
        "gluten": "glutenfreien",
    },
    "es": {
        "hi": "¡Hola!",
        "hi_formal": "Buenos días,",
        "bye": "¡Hasta pronto!",
        "bye_formal": "Será un placer recibirle.",
        "hours": "Nuestro horario: {hours}.",
        "vegan_yes": "Sí, tenemos platos veganos: {items}.",
        "veggie_yes": "Sí, tenemos platos vegetarianos: {items}.",
        "gluten_yes": "Estos platos son sin gluten: {items}.",
        "diet_none": "No encuentro platos {what} en nuestra carta; lo consulto con la cocina y le respondo.",
        "item": "{name}{price}: {description}",
        "allergens": "{name} contiene: {allergens}.",
        "no_allergens": "No hay alérgenos indicados para {name}; díganos su alergia para que la cocina lo confirme.",
        "reservation": "{policies}",
        "phone": "Puede llamarnos al {phone}.",
        "address": "Nos encontrará en {address}.",
        "unknown": "¡Gracias por su mensaje! No tengo esa información aquí; lo consulto con el equipo y le respondo enseguida.",
        "vegan": "veganos",
        "vegetarian": "vegetarianos",
        "gluten": "sin gluten",
    },
}

_STOP = _ws(
    "a an the is are do does you your we our i to of for in on at and or it can be have has with what when where how there any ich sie ihr und ist der die das ein eine es wir habt haben gibt el la los las de que y en un una es hay tienen para por"
)
_DIET_TAGS = {
    "vegan": ("vegan", "vegano", "vegana"),
    "vegetarian": ("vegetarian", "vegetarisch", "vegetariano", "vegan", "vegano", "vegana"),
    "gluten": ("gluten-free", "gluten free", "glutenfrei", "sin gluten"),
}


@dataclass(frozen=True)
class LocalDraft:
    """A drafted reply and whether it rests on the tenant's data (False: the honest "I'll check")."""

    text: str
    matched: bool
    language: str
    topics: tuple[str, ...]


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def words(text: str) -> list[str]:
    """Lower-cased words of a text (letters and digits, accents kept)."""
    return re.findall(r"\w+", _fold(text))


def detect_language(text: str) -> str:
    """``en``, ``de`` or ``es`` by counting function words (English when unsure)."""
    ws = words(text)
    scores = {lang: sum(w in vocab for w in ws) for lang, vocab in _LANG_WORDS.items()}
    if any(ch in text for ch in "¿¡ñ"):
        scores["es"] += 2
    if any(ch in text for ch in "äöüß"):
        scores["de"] += 2
    best = max(LANGS, key=lambda lang: scores[lang])
    return best if scores[best] > scores["en"] else "en"


def topics(text: str) -> tuple[str, ...]:
    """The topics a message asks about, in a fixed order."""
    folded = f" {_fold(text)} "
    ws = words(text)
    found = []
    for topic, per_lang in _TOPICS.items():
        keys = [k for lang in LANGS for k in per_lang[lang]]
        if any((" " in k and k in folded) or any(w.startswith(k) for w in ws) for k in keys):
            found.append(topic)
    return tuple(found)


def _price(item: MenuItem) -> str:
    if item.price in (None, ""):
        return ""
    return f" ({item.price})" if isinstance(item.price, str) else f" ({item.price:.2f})"


def _with_tag(menu: list[MenuItem], tags: tuple[str, ...]) -> list[MenuItem]:
    return [m for m in menu if any(_fold(t) in tags for t in m.tags)]


def _named_items(text: str, menu: list[MenuItem]) -> list[MenuItem]:
    folded = _fold(text)
    return [m for m in menu if m.name.strip() and _fold(m.name.strip()) in folded]


def _content(ws: list[str]) -> set[str]:
    # Five-letter prefixes stand in for stemming: "vegane"/"vegan", "opening"/"opens" meet.
    return {w[:5] for w in ws if w not in _STOP and len(w) > 2}


def best_faq(text: str, doc: AssistantDocument) -> str | None:
    """The answer of the FAQ entry whose question shares most words with the message, if close enough."""
    asked = _content(words(text))
    best, best_score = None, 0.0
    for entry in doc.faq:
        q = _content(words(entry.question))
        if not q or not asked:
            continue
        shared = len(asked & q)
        score = shared / len(q)
        if shared >= 2 and score >= 0.5 and score > best_score:
            best, best_score = entry.answer.strip(), score
    return best


def _formal(doc: AssistantDocument) -> bool:
    tone = _fold(doc.tone.description)
    return any(w in tone for w in ("formal", "förmlich", "sie-form", "usted", "elegant", "polite"))


def _answers(text: str, doc: AssistantDocument, lang: str, found: tuple[str, ...]) -> list[str]:
    t, profile, menu = _T[lang], doc.profile, doc.menu
    out: list[str] = []
    faq = best_faq(text, doc)
    if faq:
        out.append(faq)
    if "hours" in found and profile.opening_hours.strip():
        out.append(t["hours"].format(hours=profile.opening_hours.strip().rstrip(".")))
    for diet, key in (("vegan", "vegan_yes"), ("vegetarian", "veggie_yes"), ("gluten", "gluten_yes")):
        if diet in found and (diet != "vegetarian" or "vegan" not in found):
            items = _with_tag(menu, _DIET_TAGS[diet])
            if items:
                out.append(t[key].format(items=", ".join(m.name + _price(m) for m in items[:8])))
            elif menu:
                out.append(t["diet_none"].format(what=t[diet]))
    named = _named_items(text, menu)
    for item in named[:3]:
        if "allergens" in found:
            if item.allergens:
                out.append(t["allergens"].format(name=item.name, allergens=", ".join(item.allergens)))
            else:
                out.append(t["no_allergens"].format(name=item.name))
        elif not any(d in found for d in _DIET_TAGS):
            desc = item.description.strip() or ", ".join(item.tags)
            out.append(t["item"].format(name=item.name, price=_price(item), description=desc).rstrip(": "))
    if "reservation" in found and profile.policies.strip() and not faq:
        out.append(profile.policies.strip())
    if "delivery" in found and profile.policies.strip() and not faq and "reservation" not in found:
        out.append(profile.policies.strip())
    if "phone" in found and profile.phone.strip():
        out.append(t["phone"].format(phone=profile.phone.strip()))
    if "address" in found and profile.address.strip():
        out.append(t["address"].format(address=profile.address.strip()))
    return list(dict.fromkeys(out))  # one of each, in order


def suggest_locally(text: str, doc: AssistantDocument) -> LocalDraft:
    """Draft a reply to the customer's last message from the tenant's document only."""
    lang = detect_language(text)
    found = topics(text)
    t = _T[lang]
    formal = _formal(doc)
    hi, bye = (t["hi_formal"], t["bye_formal"]) if formal else (t["hi"], t["bye"])
    # Order status, refunds, payments: no data here, so never an answer that sounds like one.
    body = [] if "unknown_data" in found else _answers(text, doc, lang, found)
    if not body:
        return LocalDraft(f"{hi} {t['unknown']}", matched=False, language=lang, topics=found)
    return LocalDraft(" ".join([hi, *body, bye]), matched=True, language=lang, topics=found)
