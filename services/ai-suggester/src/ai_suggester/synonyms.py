# ruff: noqa: E501  (term lists read better as whole lines)
"""Query expansion for the restaurant domain: what a customer may call a topic, in the languages we serve.

A customer asks "is there a car park?", the owner wrote "Do you have parking nearby?": a word of the
question matches a concept, and the search asks for any of the concept's terms. Terms mix languages
on purpose, so a German question also finds an English entry (the reply then says so). Terms are
separated by commas: ``root*`` matches words starting with the root, a plain word matches itself
(and its short inflections), several words a phrase. Expansion happens here rather than in a
PostgreSQL thesaurus dictionary: that needs files in the server's ``tsearch_data`` directory, which
managed databases do not let us write.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# (name, weight, terms). Weak concepts (time words, "where", "menu") occur in questions about many
# things: they count less than a topic word.
_CONCEPTS: tuple[tuple[str, float, str], ...] = (
    (
        "parking",
        1.0,
        "park*, car park, parkplatz*, parkhaus*, parken, garage*, stationnement*, garer, aparcamiento*, aparcar, estacionamiento*, estacionar, parcheggi*, parkeer*, parkeren, otopark*, car, auto, voiture, coche, macchina, carro, araba",
    ),
    ("vegan", 1.0, "vegan*, plant-based, plant based, pflanzlich*, vegetalien*, bitkisel"),
    (
        "vegetarian",
        1.0,
        "vegetar*, veggie*, vejetaryen*, fleischlos*, meat-free, without meat, ohne fleisch, sans viande, sin carne, senza carne, sem carne, zonder vlees, etsiz",
    ),
    ("gluten", 1.0, "gluten*, coeliac*, celiac*, zoliak*, glutenfrei*, glutensiz*, celiach*"),
    (
        "lactose",
        1.0,
        "lactos*, laktos*, laktoz*, dairy, milk, milch*, lait*, leche, latte, latticin*, leite, lacticin*, melk, zuivel, sut",
    ),
    (
        "nuts",
        1.0,
        "nut, peanut*, nuss*, nusse*, noix, cacahuet*, frutos secos, noci, arachid*, nozes, amendoim*, noten, pinda*, findik*, fistik*",
    ),
    (
        "allergens",
        1.0,
        "allerg*, alerg*, intoleran*, unvertraglich*, contain*, enthalt*, contien*, contiene, contem, bevat, icer*",
    ),
    (
        "booking",
        1.0,
        "book*, reserv*, rezerv*, table, tisch*, buchen, buchung*, mesa*, tavol*, prenot*, tafel*, masa",
    ),
    (
        "hours",
        1.0,
        "open*, hour*, close, closes, closing, closed, geoffnet*, offen*, offnungszeit*, geschlossen*, ouvert*, ferm*, horaire*, abiert*, abre, abren, horario*, cierra*, cerrado*, apert*, orari*, chius*, aberto*, fech*, geopend, openingstijd*, gesloten, acik*, kapali*, saat*",
    ),
    (
        "when",
        0.4,
        "tonight, today, tomorrow, weekend, when, sunday, monday, tuesday, wednesday, thursday, friday, saturday, heute, abend*, morgen, wochenende, wann, sonntag*, montag*, dienstag*, mittwoch*, donnerstag*, freitag*, samstag*, ce soir, aujourd*, demain, quand, dimanche, lundi, hoy, noche, manana, cuando, domingo, lunes, stasera, oggi, domani, quando, domenica, lunedi, hoje, amanha, vanavond, vandaag, wanneer, zondag, maandag, bugun, aksam*, yarin, ne zaman",
    ),
    (
        "kids",
        1.0,
        "kid, child*, famil*, kinder*, kind, enfant*, nino*, bambin*, crianc*, kinderen, cocuk*, high chair, hochstuhl*, baby, babies",
    ),
    (
        "terrace",
        1.0,
        "terrace*, terras*, outdoor*, outside, garden*, patio*, al fresco, terrasse*, draussen, im freien, garten*, plein air, dehors, terraza*, aire libre, terrazz*, all aperto, ao ar livre, buiten, tuin, teras*, bahce*",
    ),
    ("wifi", 1.0, "wifi, wi fi, wlan, internet"),
    (
        "dogs",
        1.0,
        "dog, pet, hund*, chien*, perro*, mascota*, cane, cani, cao, caes, hond*, kopek*, animal*, haustier*, tiere",
    ),
    (
        "payment",
        1.0,
        "pay, paying, payment*, paid, card, cash, visa, mastercard, amex, maestro, girocard, bargeld, barzahlung*, zahlung*, credit*, contactless, bezahl*, zahl*, karte, kreditkarte*, ec karte, payer, paie*, carte bancaire, especes, pagar, pago*, tarjeta*, efectivo, pagare, pagament*, contanti, cartao*, dinheiro, betal*, pinnen, contant, odeme*, nakit, kredi kart*",
    ),
    (
        "takeaway",
        1.0,
        "deliver*, takeaway, take away, takeout, take out, pickup, pick up, collect*, liefer*, abhol*, mitnehm*, livraison*, livr*, emporter, domicilio, entrega*, para llevar, recoger, consegn*, asporto, para levar, bezorg*, afhal*, meenem*, paket servis, eve servis, teslimat*",
    ),
    (
        "groups",
        1.0,
        "group*, party, parties, event*, birthday*, celebrat*, geburtstag*, gruppe*, feier*, veranstaltung*, anniversaire*, groupe*, fete, cumpleanos, grupo*, fiesta*, evento*, compleanno, gruppo*, festa, aniversario, verjaardag*, groep*, feest*, dogum gunu, grup*, etkinlik*",
    ),
    (
        "accessible",
        1.0,
        "wheelchair*, accessib*, barrierefrei*, rollstuhl*, rollator*, fauteuil roulant, silla de ruedas, sedia a rotelle, cadeira de rodas, rolstoel*, tekerlekli sandalye, engelli*, step, steps, stufe*, treppe*",
    ),
    (
        "drinks",
        1.0,
        "drink*, wine*, beer*, cocktail*, alcohol*, getrank*, wein*, bier*, boisson*, vin, vins, biere*, bebida*, vino*, cerveza*, birra*, vinho*, cerveja*, drank*, wijn*, icecek*, sarap*, bira",
    ),
    ("spicy", 1.0, "spicy, chili*, chilli*, scharf*, epice*, piment*, picante*, piccant*, pittig*"),
    ("halal", 1.0, "halal, kosher, koscher, casher"),
    (
        "voucher",
        1.0,
        "voucher*, gift card, gutschein*, bon cadeau, carte cadeau, tarjeta regalo, buono regalo, vale regalo, cartao presente, cadeaubon*, hediye ceki",
    ),
    (
        "price",
        1.0,
        "price*, cost*, expensive, cheap, how much, preis*, kostet, teuer, prix, cher, combien, precio*, cuesta, cuanto, prezz*, costa, quanto, preco*, custa, prijs*, duur, fiyat*, ucret*, ne kadar",
    ),
    (
        "address",
        1.0,
        "address*, located, location, adresse*, direccion*, ubicacion*, indirizz*, endereco*, morada, adres*, konum*",
    ),
    ("where", 0.4, "where, wo, ou, donde, dove, onde, waar, nerede, find you, finden"),
    (
        "nearby",
        0.4,
        "nearby, near, close by, nearest, nahe, in der nahe, proche, pres, cerca, vicin*, perto, dichtbij, yakin*",
    ),
    (
        "phone",
        1.0,
        "phone*, call*, telephone*, number, telefon*, anruf*, nummer, appeler, telefono*, llamar, chiamar*, ligar, telefone, bellen, telefoon, numara*",
    ),
    (
        "menu",
        0.4,
        "menu, dish*, food, meal*, eat, karte, speisekarte, gericht*, essen, carte, plat, plats, carta, plato*, piatt*, prato*, comida, gerecht*, eten, yemek*",
    ),
)


# Words that fill a question in any topic ("hi", "possible", "habt ihr"): never a topic of their own.
# PostgreSQL's stop word lists drop articles and pronouns; these are the conversational rest.
FILLER = frozenset(
    [
        "please",
        "possible",
        "ok",
        "okay",
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "would",
        "like",
        "love",
        "get",
        "come",
        "us",
        "im",
        "id",
        "much",
        "many",
        "something",
        "anything",
        "somewhere",
        "around",
        "also",
        "really",
        "just",
        "know",
        "tell",
        "wondering",
        "question",
        "maybe",
        "guys",
        "habt",
        "gibt",
        "konnt",
        "konnen",
        "moglich",
        "geht",
        "hallo",
        "danke",
        "irgendwo",
        "etwas",
        "dabei",
        "bitte",
        "mal",
        "gerne",
        "kommen",
        "frage",
        "eigentlich",
        "vielleicht",
        "leute",
        "bonjour",
        "salut",
        "merci",
        "svp",
        "possible",
        "est",
        "peut",
        "peux",
        "pouvons",
        "hola",
        "gracias",
        "posible",
        "puedo",
        "pueden",
        "podemos",
        "hay",
        "ciao",
        "grazie",
        "possibile",
        "posso",
        "possiamo",
        "ola",
        "obrigado",
        "obrigada",
        "possivel",
        "posso",
        "podemos",
        "hoi",
        "hallo",
        "dank",
        "bedankt",
        "mogelijk",
        "kan",
        "kunnen",
        "merhaba",
        "tesekkurler",
        "mumkun",
        "var",
        "mi",
        "mu",
    ]
)


def fold(text: str) -> str:
    """Lower case without accents ("Öffnungszeiten" -> "offnungszeiten"), as ``unaccent`` does."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("ß", "ss").replace("ı", "i"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokens(text: str) -> list[str]:
    """Folded words of a text (letters and digits)."""
    return re.findall(r"[^\W_]+", fold(text))


@dataclass(frozen=True)
class Term:
    """One term of a concept: a word, a prefix or a phrase (a sequence of words)."""

    words: tuple[str, ...]
    prefix: bool  # the last word is a prefix (``root*``)

    def matches_at(self, toks: list[str], i: int) -> bool:
        """True when the term matches the words of ``toks`` starting at ``i``."""
        if i + len(self.words) > len(toks):
            return False
        for j, word in enumerate(self.words):
            tok = toks[i + j]
            if self.prefix and j == len(self.words) - 1:
                ok = tok.startswith(word)
            else:  # a word or a short inflection of it ("tables", "vegane")
                ok = tok in (word, word + "s", word + "es") or (
                    len(word) >= 4 and tok.startswith(word) and len(tok) - len(word) <= 2
                )
            # ... or a compound's head ("Firmenfeier", "Kindermenü"): German, Dutch, Turkish write them as one word
            ok = ok or (len(self.words) == 1 and len(word) >= 4 and _head_of_compound(tok, word))
            if not ok:
                return False
        return True

    def tsquery(self, weight: str = "") -> str:
        """The term as a ``to_tsquery`` operand; ``weight`` "A" matches only an entry's title."""
        last = len(self.words) - 1
        parts = []
        for k, word in enumerate(self.words):
            label = ("*" if self.prefix and k == last else "") + weight
            parts.append(f"'{word}'" + (f":{label}" if label else ""))
        return parts[0] if len(parts) == 1 else "(" + " <-> ".join(parts) + ")"


def _head_of_compound(tok: str, word: str) -> bool:
    at = tok.rfind(word)
    return at >= 3 and len(tok) - at - len(word) <= 2


@dataclass(frozen=True)
class Concept:
    """A topic and the terms it goes by."""

    name: str
    weight: float
    terms: tuple[Term, ...]


def _term(spec: str) -> Term:
    words = tuple(tokens(spec.rstrip("*")))
    return Term(words, prefix=spec.endswith("*"))


CONCEPTS: tuple[Concept, ...] = tuple(
    Concept(name, weight, tuple(_term(t.strip()) for t in spec.split(",") if t.strip()))
    for name, weight, spec in _CONCEPTS
)


@dataclass(frozen=True)
class Group:
    """One thing the question asks about: a concept (any of its terms) or a word of its own.

    ``word`` is set for a word of its own: the search drops it when it is a stop word of the
    customer's language, and compares it by trigrams when it matches no entry (a typo)."""

    any_query: str  # to_tsquery text matching anywhere in an entry
    title_query: str  # the same, matching the entry's title only
    weight: float
    word: str | None = None
    concept: str | None = None


def expand(question: str, max_groups: int = 12) -> list[Group]:
    """The question as groups of alternatives, one per concept or remaining word, in order."""
    toks = tokens(question)
    groups: list[Group] = []
    seen: set[str] = set()
    i = 0
    while i < len(toks):
        # The longest term starting here wins ("close by" before "close"); a word may name two
        # concepts ("Karte": menu and card payment).
        found: list[tuple[int, Concept]] = []
        for concept in CONCEPTS:
            best = max((len(t.words) for t in concept.terms if t.matches_at(toks, i)), default=0)
            if best:
                found.append((best, concept))
        if found:
            longest = max(n for n, _ in found)
            for n, concept in found:
                if n == longest and concept.name not in seen:
                    seen.add(concept.name)
                    groups.append(_concept_group(concept))
            i += longest
            continue
        tok = toks[i]
        if tok not in seen and tok not in FILLER and (len(tok) >= 2 or tok.isdigit()):
            seen.add(tok)
            groups.append(_word_group(tok))
        i += 1
    return groups[:max_groups]


def _concept_group(concept: Concept) -> Group:
    any_q = " | ".join(t.tsquery() for t in concept.terms)
    title_q = " | ".join(t.tsquery("A") for t in concept.terms)
    return Group(any_q, title_q, concept.weight, concept=concept.name)


def _word_group(tok: str) -> Group:
    # Longer words also match as prefixes: German compounds ("Kinderkarte") and inflections.
    prefix = len(tok) >= 5 and not tok.isdigit()
    term = Term((tok,), prefix=prefix)
    weight = 0.3 if tok.isdigit() else 1.0
    return Group(term.tsquery(), term.tsquery("A"), weight, word=tok)
