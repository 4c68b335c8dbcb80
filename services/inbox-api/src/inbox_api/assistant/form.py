"""The assistant document as a form: one line per dish (``name | price | description | allergens |
tags | language``) and per question (``question | answer | language``); the language cell is
optional (empty: the restaurant's main language) and takes plain names ("German") or codes ("de").
The built-in sentences are fields ``sentence_<code>_<key>``; one left as built in is stored empty."""

from __future__ import annotations

from typing import Any

from inbox_api.errors import Invalid
from omni_common.contracts.assistant import AssistantDocument
from omni_common.contracts.assistant_sentences import (
    DEFAULT_SENTENCES,
    LANGUAGE_NAMES,
    LANGUAGES,
    SENTENCE_KEYS,
)

SEP = "|"
# What each built-in sentence is for, in the owner's words.
SENTENCE_LABELS = {
    "hi": "Greeting",
    "hi_formal": "Formal greeting",
    "bye": "Sign-off",
    "bye_formal": "Formal sign-off",
    "no_answer": "When nothing you wrote answers the question",
    "other_language": "When the answer is only written in another language",
    "hours": "Opening hours ({hours})",
    "menu": "Dishes ({items})",
    "allergens": "A dish's allergens ({name}, {allergens})",
    "no_allergens": "A dish without listed allergens ({name})",
    "phone": "Phone ({phone})",
    "address": "Address ({address})",
}


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.split(SEP)]


def _list(cell: str) -> list[str]:
    return [x.strip() for x in cell.split(",") if x.strip()]


def language_name(code: str | None) -> str:
    """ "German" for "de"; "" for none (the restaurant's main language)."""
    return LANGUAGE_NAMES.get(code, code) if code else ""


def language_code(cell: str, where: str) -> str | None:
    """The code of a language cell: a name as listed ("German") or a code ("de"); None when empty."""
    cell = cell.strip()
    if not cell:
        return None
    by_name = {name.casefold(): code for code, name in LANGUAGE_NAMES.items()}
    code = by_name.get(cell.casefold()) or (cell.casefold() if cell.casefold() in LANGUAGE_NAMES else None)
    if code is None:
        known = ", ".join(LANGUAGE_NAMES.values())
        raise Invalid(f'Unknown language "{cell[:30]}" on {where}; use one of {known}')
    return code


def _language_cell(code: str | None) -> str:
    return f" | {language_name(code)}" if code else ""


def menu_lines(doc: AssistantDocument) -> str:
    """The menu as ``name | price | description | allergens | tags | language`` lines."""
    return "\n".join(
        f"{m.name} | {m.price if m.price is not None else ''} | {m.description} | "
        f"{', '.join(m.allergens)} | {', '.join(m.tags)}{_language_cell(m.language)}"
        for m in doc.menu
    )


def faq_lines(doc: AssistantDocument) -> str:
    """The FAQ as ``question | answer | language`` lines (no language cell: the main language)."""
    return "\n".join(f"{f.question} | {f.answer}{_language_cell(f.language)}" for f in doc.faq)


def sentence_rows(doc: AssistantDocument) -> list[dict[str, object]]:
    """Per language: its name, whether the owner changed any sentence, and each sentence's field."""
    rows: list[dict[str, object]] = []
    for code in LANGUAGES:
        own = doc.fallback_sentences.get(code)
        fields = [
            {
                "name": f"sentence_{code}_{key}",
                "label": SENTENCE_LABELS.get(key, key),
                "value": (getattr(own, key) if own else "") or DEFAULT_SENTENCES[code][key],
                "default": DEFAULT_SENTENCES[code][key],
            }
            for key in SENTENCE_KEYS
        ]
        edited = own is not None and any(getattr(own, k).strip() for k in SENTENCE_KEYS)
        rows.append({"code": code, "name": LANGUAGE_NAMES[code], "edited": edited, "fields": fields})
    return rows


def parse_sentences(form: dict[str, str]) -> dict[str, dict[str, str]]:
    """The owner's sentences from ``sentence_<code>_<key>`` fields; one equal to the built-in is empty."""
    found: dict[str, dict[str, str]] = {}
    for code in LANGUAGES:
        own = {}
        for key in SENTENCE_KEYS:
            value = form.get(f"sentence_{code}_{key}", "").strip()
            if value and value != DEFAULT_SENTENCES[code][key]:
                own[key] = value
        if own:
            found[code] = own
    return found


def parse_form(form: dict[str, str]) -> AssistantDocument:
    """Build the document from the form fields (``ValidationError``/``Invalid`` when invalid)."""
    menu: list[dict[str, Any]] = []
    for line in form["menu"].splitlines():
        if not line.strip():
            continue
        cells = _cells(line) + [""] * 6
        menu.append(
            {
                "name": cells[0],
                "price": cells[1] or None,
                "description": cells[2],
                "allergens": _list(cells[3]),
                "tags": _list(cells[4]),
                "language": language_code(cells[5], f"the menu line of {cells[0][:40]}"),
            }
        )
    faq: list[dict[str, Any]] = []
    for line in form["faq"].splitlines():
        if line.strip():
            question, _, rest = line.partition(SEP)
            answer, _, language = rest.partition(SEP)
            if not answer.strip():
                raise Invalid(f"FAQ line without an answer: {question.strip()[:60]}")
            code = language_code(language, f"the FAQ line {question.strip()[:40]}")
            faq.append({"question": question.strip(), "answer": answer.strip(), "language": code})
    return AssistantDocument.model_validate(
        {
            "enabled": form["enabled"] == "on",
            "profile": {
                **{k: form[k].strip() for k in ("name", "address", "phone", "opening_hours", "policies")},
                "language": language_code(form.get("language", ""), "the main language") or "en",
            },
            "menu": menu,
            "faq": faq,
            "tone": {
                "description": form["tone"].strip(),
                "examples": [x.strip() for x in form["examples"].splitlines() if x.strip()],
            },
            "fallback_sentences": parse_sentences(form),
        }
    )
