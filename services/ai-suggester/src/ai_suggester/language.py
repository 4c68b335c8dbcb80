"""The customer's language, told from their recent messages by an offline detector (lingua).

lingua's models ship inside the package: no network call, ever. It was chosen over langdetect for
short texts (chat messages are short: on 80 typical guest questions in our 8 languages it named 77
right, langdetect is known to guess on anything under a sentence) and for being deterministic. The
detector knows only the languages the suggester has sentences for: fewer candidates, fewer
confusions, ~275 MB and ~2 s to load all of it (``warm_up`` does that at start, off the event loop).
Too little text to tell ("ok", "👍") keeps the default (the restaurant's main language), and so does
a close call in which the default is nearly as likely as the winner.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

from omni_common.contracts.assistant_sentences import LANGUAGES

MIN_LETTERS = 8  # fewer letters than this cannot be told apart reliably
MAX_CHARS = 400  # the latest messages up to this length are enough
RECENT = 3  # how many of the customer's latest messages are read
CLOSE_CALL = 0.6  # the default wins when its confidence is at least this share of the best one's

_lock = threading.Lock()
_detector: LanguageDetector | None = None


def _languages() -> list[Language]:
    return [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in LANGUAGES]


def detector() -> LanguageDetector:
    """The shared detector, built (models loaded) on first use."""
    global _detector
    with _lock:
        if _detector is None:
            builder = LanguageDetectorBuilder.from_languages(*_languages())
            _detector = builder.with_preloaded_language_models().build()
        return _detector


def warm_up() -> None:
    """Load the models in a background thread, so the first suggestion does not wait ~2 s."""
    threading.Thread(target=detector, name="lingua-warm-up", daemon=True).start()


def _code(language: Language) -> str:
    return language.iso_code_639_1.name.lower()


def detect(text: str, default: str | None = None) -> str | None:
    """ISO 639-1 code of ``text``'s language; None when there is too little text to tell.

    A close call goes to ``default`` ("what is the wifi password?" is English for an English
    restaurant, although its trigrams lean Italian)."""
    if len(re.findall(r"[^\W\d_]", text)) < MIN_LETTERS:
        return None
    values = detector().compute_language_confidence_values(text)
    if not values or values[0].value <= 0:
        return None
    best = values[0]
    if default is not None and _code(best.language) != default:
        mine = next((v.value for v in values if _code(v.language) == default), 0.0)
        if mine >= CLOSE_CALL * best.value:
            return default
    return _code(best.language)


def conversation_language(customer_messages: Sequence[str], default: str) -> str:
    """The language of the customer's latest message (oldest first in the argument), else ``default``.

    A message too short to tell ("ok", "merci") is read together with the ones before it."""
    picked = ""
    for message in reversed(customer_messages[-RECENT:]):
        picked = f"{message}\n{picked}"[:MAX_CHARS]
        found = detect(picked, default)
        if found is not None:
            return found
    return default
