"""The assistant document as a form: one line per dish (``name | price | description | allergens |
tags``) and per question (``question | answer``)."""

from __future__ import annotations

from typing import Any

from inbox_api.errors import Invalid
from omni_common.contracts.assistant import AssistantDocument

SEP = "|"


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.split(SEP)]


def _list(cell: str) -> list[str]:
    return [x.strip() for x in cell.split(",") if x.strip()]


def menu_lines(doc: AssistantDocument) -> str:
    """The menu as ``name | price | description | allergens | tags`` lines."""
    return "\n".join(
        f"{m.name} | {m.price if m.price is not None else ''} | {m.description} | "
        f"{', '.join(m.allergens)} | {', '.join(m.tags)}"
        for m in doc.menu
    )


def faq_lines(doc: AssistantDocument) -> str:
    """The FAQ as ``question | answer`` lines."""
    return "\n".join(f"{f.question} | {f.answer}" for f in doc.faq)


def parse_form(form: dict[str, str]) -> AssistantDocument:
    """Build the document from the form fields (``ValidationError``/``Invalid`` when invalid)."""
    menu: list[dict[str, Any]] = []
    for line in form["menu"].splitlines():
        if not line.strip():
            continue
        cells = _cells(line) + [""] * 5
        menu.append(
            {
                "name": cells[0],
                "price": cells[1] or None,
                "description": cells[2],
                "allergens": _list(cells[3]),
                "tags": _list(cells[4]),
            }
        )
    faq: list[dict[str, str]] = []
    for line in form["faq"].splitlines():
        if line.strip():
            question, _, answer = line.partition(SEP)
            if not answer.strip():
                raise Invalid(f"FAQ line without an answer: {question.strip()[:60]}")
            faq.append({"question": question.strip(), "answer": answer.strip()})
    return AssistantDocument.model_validate(
        {
            "enabled": form["enabled"] == "on",
            "profile": {
                k: form[k].strip() for k in ("name", "address", "phone", "opening_hours", "policies")
            },
            "menu": menu,
            "faq": faq,
            "tone": {
                "description": form["tone"].strip(),
                "examples": [x.strip() for x in form["examples"].splitlines() if x.strip()],
            },
        }
    )
