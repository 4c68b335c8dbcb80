"""What the local suggester can honestly do with the owner's own draft, without a model.

Shorten: leave out whole sentences (never reword). Translate: only drafts made of the built-in
sentences (the owner's own words cannot be translated without a model). Rewrite: add the greeting
and sign-off of the owner's tone, nothing more. Each says plainly what it did or why it could not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ai_suggester.local import greeting
from ai_suggester.prompt import language_name
from omni_common.contracts.assistant import AssistantDocument
from omni_common.contracts.assistant_sentences import DEFAULT_SENTENCES, fill, sentences_for

_SENTENCE = re.compile(r"(?<=[.!?…])\s+")
_PLACEHOLDER = re.compile(r"\\\{(\w+)\\\}")
SHORT_ENOUGH = 120  # characters: a draft this short is not shortened by leaving sentences out
KEEP_SHARE = 0.6  # a shortened draft keeps at most this share of the characters (at least one sentence)

SHORTENED = "Shortened without an AI model: whole sentences were left out, nothing was reworded."
ALREADY_SHORT = "This draft is already short; without an AI model I can only leave out whole sentences."
TRANSLATED = "Translated without an AI model: this draft is made of the built-in sentences only."
CANNOT_TRANSLATE = (
    "I can't translate this without an AI model: I can only translate the built-in sentences, "
    "and this draft has words of your own."
)
SAME_LANGUAGE = "The draft already seems to be in {language}; nothing to translate."
REWRITTEN = "Without an AI model I can only add your greeting and sign-off; the wording is unchanged."
CANNOT_REWRITE = "I can't rewrite a draft in your tone without an AI model."


@dataclass(frozen=True)
class ActionResult:
    """The new draft (None: unchanged) and a plain note for the owner."""

    text: str | None
    note: str


def sentences(text: str) -> list[str]:
    """The draft's sentences, in order."""
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def _weight(sentence: str, index: int) -> float:
    # Facts first: numbers (times, prices, distances) and the opening statement carry the answer.
    score = 2.0 if re.search(r"\d", sentence) else 0.0
    return score + (1.0 if index == 0 else 0.0) - len(sentence) / 1000


def shorten(draft: str, doc: AssistantDocument, language: str) -> ActionResult:
    """The draft without its least important sentences (greetings first), in the original order."""
    parts = sentences(draft)
    if len(draft) <= SHORT_ENOUGH or len(parts) < 2:
        return ActionResult(None, ALREADY_SHORT)
    pleasantries = {p.casefold() for p in greeting(doc, language)}
    content = [(i, p) for i, p in enumerate(parts) if p.casefold() not in pleasantries] or list(
        enumerate(parts)
    )
    first = content[0][0]
    ranked = sorted(content, key=lambda ip: -_weight(ip[1], ip[0] - first))
    keep: list[tuple[int, str]] = []
    for i, part in ranked:
        if keep and sum(len(p) for _, p in keep) + len(part) > KEEP_SHARE * len(draft):
            break  # strictly by importance: a less important sentence never takes a gap
        keep.append((i, part))
    text = " ".join(p for _, p in sorted(keep))
    if text == draft.strip():
        return ActionResult(None, ALREADY_SHORT)
    return ActionResult(text, SHORTENED)


def _pattern(template: str) -> re.Pattern[str]:
    body = _PLACEHOLDER.sub(lambda m: f"(?P<{m.group(1)}>.+?)", re.escape(template))
    return re.compile(r"\s*" + body + r"(?=\s|$)")


def _templates(doc: AssistantDocument) -> list[tuple[str, str, re.Pattern[str]]]:
    out = []
    for lang in {*DEFAULT_SENTENCES, *doc.fallback_sentences}:
        for key, template in sentences_for(doc, lang).items():
            if template:
                out.append((lang, key, _pattern(template)))
    return out


def parse_builtin(draft: str, doc: AssistantDocument) -> list[tuple[str, str, dict[str, str]]] | None:
    """The draft as (language, sentence key, values) pieces; None when any part is not a built-in sentence."""
    templates = _templates(doc)
    pieces: list[tuple[str, str, dict[str, str]]] = []
    pos, text = 0, draft.strip()
    while pos < len(text):
        best: tuple[int, str, str, dict[str, str]] | None = None
        for lang, key, pattern in templates:
            match = pattern.match(text, pos)
            if match and (best is None or match.end() > best[0]):
                best = (match.end(), lang, key, match.groupdict())
        if best is None:
            return None
        pos = best[0]
        pieces.append((best[1], best[2], best[3]))
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return pieces


def translate(draft: str, doc: AssistantDocument, language: str) -> ActionResult:
    """The built-in sentences of ``draft`` in ``language``; a plain no for anything else."""
    pieces = parse_builtin(draft, doc)
    if not pieces:
        return ActionResult(None, CANNOT_TRANSLATE)
    if all(lang == language for lang, _, _ in pieces):
        return ActionResult(None, SAME_LANGUAGE.format(language=language_name(language)))
    target = sentences_for(doc, language)
    return ActionResult(" ".join(fill(target[key], **values) for _, key, values in pieces), TRANSLATED)


def rewrite(draft: str, doc: AssistantDocument, language: str) -> ActionResult:
    """The draft with the tone's greeting and sign-off around it, when they are missing."""
    hi, bye = greeting(doc, language)
    text = draft.strip()
    start = "" if text.casefold().startswith(hi.casefold().rstrip("!,. ")) else hi
    end = "" if text.casefold().endswith(bye.casefold()) else bye
    if not start and not end:
        return ActionResult(None, CANNOT_REWRITE)
    return ActionResult(" ".join(p for p in (start, text, end) if p), REWRITTEN)
