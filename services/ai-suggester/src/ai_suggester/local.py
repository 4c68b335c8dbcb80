"""The local suggester: a reply from the entries retrieval found in the tenant's own knowledge.

No model and no network. It writes in the customer's language with the owner's (or the built-in)
sentences, quotes the owner's own answer when one matches (saying so when that answer is in
another language), and says it will check with the team when nothing matches.
"""

from __future__ import annotations

from dataclasses import dataclass

from ai_suggester.retrieval import Hit
from ai_suggester.synonyms import expand, fold
from omni_common.contracts.assistant import AssistantDocument, MenuItem
from omni_common.contracts.assistant_sentences import fill, sentences_for

CLOSE = 0.6  # other entries count with the best one when they score at least this share of it
MAX_ITEMS = 8
# Things the knowledge never holds (a guest's own order, money back): never an answer that sounds like one.
_NO_DATA = (
    "my order", "order status", "refund", "money back", "charged twice",
    "meine bestellung", "ruckerstattung", "geld zuruck",
    "ma commande", "remboursement", "mi pedido", "reembolso", "il mio ordine", "rimborso",
    "meu pedido", "mijn bestelling", "terugbetaling", "siparisim", "iade",
)  # fmt: skip


@dataclass(frozen=True)
class LocalDraft:
    """A drafted reply and whether it rests on the tenant's data (False: the honest "I'll check")."""

    text: str
    matched: bool
    language: str


def formal(doc: AssistantDocument) -> bool:
    """True when the owner describes the tone as formal."""
    tone = fold(doc.tone.description)
    return any(w in tone for w in ("formal", "formlich", "sie-form", "usted", "vous", "elegant", "polite"))


def greeting(doc: AssistantDocument, language: str) -> tuple[str, str]:
    """(hello, goodbye) in the customer's language and the owner's tone."""
    s = sentences_for(doc, language)
    return (s["hi_formal"], s["bye_formal"]) if formal(doc) else (s["hi"], s["bye"])


def price(item: MenuItem) -> str:
    """ " (9.50)" or nothing."""
    if item.price in (None, ""):
        return ""
    return f" ({item.price})" if isinstance(item.price, str) else f" ({item.price:.2f})"


def asks_for_data_we_lack(question: str) -> bool:
    """True for questions about a guest's own order or payment, which no knowledge answers."""
    folded = " ".join(fold(question).split())
    return any(phrase in folded for phrase in _NO_DATA)


def _menu_part(doc: AssistantDocument, hits: list[Hit], s: dict[str, str], allergens: bool) -> list[str]:
    dishes = [doc.menu[h.position] for h in hits if h.kind == "menu" and h.position < len(doc.menu)]
    if allergens:
        out = []
        for dish in dishes[:3]:
            if dish.allergens:
                out.append(fill(s["allergens"], name=dish.name, allergens=", ".join(dish.allergens)))
            else:
                out.append(fill(s["no_allergens"], name=dish.name))
        return out
    return [fill(s["menu"], items=", ".join(d.name + price(d) for d in dishes[:MAX_ITEMS]))]


def _part(doc: AssistantDocument, hit: Hit, s: dict[str, str], language: str) -> list[str]:
    profile = doc.profile
    if hit.kind == "hours":
        return [fill(s["hours"], hours=profile.opening_hours.strip().rstrip("."))]
    if hit.kind == "address":
        return [fill(s["address"], address=profile.address.strip())]
    if hit.kind == "phone":
        return [fill(s["phone"], phone=profile.phone.strip())]
    if hit.kind == "faq" and hit.position < len(doc.faq):
        own = doc.faq[hit.position].answer.strip()
    elif hit.kind == "policy":
        own = hit.title.rstrip(".") + "."
    else:
        return []
    # The owner's own words: quoted as written, and said plainly when not in the guest's language.
    return [s["other_language"], own] if hit.language != language else [own]


def suggest_locally(question: str, doc: AssistantDocument, hits: list[Hit], language: str) -> LocalDraft:
    """Draft a reply to the customer's ``question`` from the retrieved ``hits`` (best first) only."""
    s = sentences_for(doc, language)
    hi, bye = greeting(doc, language)
    if not hits or asks_for_data_we_lack(question):
        return LocalDraft(f"{hi} {s['no_answer']}", matched=False, language=language)
    best = hits[0].score
    close = [h for h in hits if h.score >= CLOSE * best]
    # An entry in the guest's language beats an equally good one in another language.
    close.sort(key=lambda h: (h.language != language, -h.score))
    allergens = any(g.concept == "allergens" for g in expand(question))
    body: list[str] = []
    done: set[str] = set()
    for hit in close:
        if hit.kind in done or len(done) == 2:
            continue  # one answer per kind, two kinds at most: a reply, not a list of everything
        done.add(hit.kind)
        if hit.kind == "menu":
            body.extend(_menu_part(doc, [h for h in close if h.kind == "menu"], s, allergens))
        else:
            body.extend(_part(doc, hit, s, language))
    if not body:
        return LocalDraft(f"{hi} {s['no_answer']}", matched=False, language=language)
    return LocalDraft(" ".join([hi, *dict.fromkeys(body), bye]), matched=True, language=language)
