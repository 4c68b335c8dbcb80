"""The AI suggestions settings page: the assistant document as a form (one line per dish or question)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from inbox_api.audit_api import write_assistant
from inbox_api.auth import Deps
from inbox_api.web import PageUser, _common, _require_csrf, render
from omni_common.contracts.assistant import AssistantDocument
from omni_common.tenancy.assistant import read_document

router = APIRouter(include_in_schema=False)
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
    """Build the document from the form fields (``ValidationError``/``ValueError`` when invalid)."""
    menu = []
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
    faq = []
    for line in form["faq"].splitlines():
        if line.strip():
            question, _, answer = line.partition(SEP)
            if not answer.strip():
                raise ValueError(f"FAQ line without an answer: {question.strip()[:60]}")
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


@router.get("/settings/assistant")
async def assistant_page(
    request: Request, user: PageUser, deps: Deps, msg: str | None = None, err: str | None = None
) -> HTMLResponse:
    async with deps.registry.session(user.tenant_id) as session:
        doc = await read_document(session)
    context: dict[str, Any] = await _common(deps, user) | {
        "doc": doc,
        "menu_text": menu_lines(doc),
        "faq_text": faq_lines(doc),
        "msg": msg,
        "err": err,
    }
    return render(request, "assistant.html", context)


@router.post("/settings/assistant")
async def assistant_submit(
    request: Request,
    user: PageUser,
    deps: Deps,
    enabled: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    address: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    opening_hours: Annotated[str, Form()] = "",
    policies: Annotated[str, Form()] = "",
    menu: Annotated[str, Form()] = "",
    faq: Annotated[str, Form()] = "",
    tone: Annotated[str, Form()] = "",
    examples: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    _require_csrf(deps, user, request, csrf_token)
    form = dict(
        enabled=enabled, name=name, address=address, phone=phone, opening_hours=opening_hours,
        policies=policies, menu=menu, faq=faq, tone=tone, examples=examples,
    )  # fmt: skip
    try:
        doc = parse_form(form)
    except (ValidationError, ValueError) as exc:
        first = str(exc).splitlines()[0][:200] if not isinstance(exc, ValidationError) else "check the fields"
        return RedirectResponse("/settings/assistant?" + urlencode({"err": f"Not saved: {first}."}), 303)
    async with deps.registry.begin(user.tenant_id) as session:
        await write_assistant(session, user, doc)
    return RedirectResponse("/settings/assistant?" + urlencode({"msg": "AI settings saved."}), 303)
