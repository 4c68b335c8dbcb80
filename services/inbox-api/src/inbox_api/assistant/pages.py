"""The AI suggestions settings page: the assistant document as a form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.assistant.form import faq_lines, menu_lines, parse_form, sentence_rows
from inbox_api.assistant.service import assistant_figures, write_assistant
from inbox_api.auth.dependencies import Deps, PageUser
from inbox_api.web.forms import FormUser, save
from inbox_api.web.pages import PageNotice, render_page
from omni_common.contracts.assistant_sentences import LANGUAGE_NAMES
from omni_common.tenancy.assistant import read_document

PAGE = "/settings/assistant"
router = APIRouter(include_in_schema=False)


@router.get(PAGE)
async def assistant_page(request: Request, user: PageUser, deps: Deps, notice: PageNotice) -> HTMLResponse:
    async with deps.registry.session(user.tenant_id) as session:
        doc = await read_document(session)
        numbers = await assistant_figures(session)
    context = {
        "doc": doc,
        "menu_text": menu_lines(doc),
        "faq_text": faq_lines(doc),
        "languages": LANGUAGE_NAMES,
        "sentences": sentence_rows(doc),
        "figures": numbers,
    }
    return await render_page(request, deps, user, "assistant.html", context, notice)


@router.post(PAGE)
async def assistant_submit(
    request: Request,
    user: FormUser,
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
    language: Annotated[str, Form()] = "",
) -> RedirectResponse:
    # The built-in sentences are many fields (``sentence_<code>_<key>``): read from the form itself.
    sentences = {
        k: v for k, v in (await request.form()).items() if k.startswith("sentence_") and isinstance(v, str)
    }
    form = dict(
        enabled=enabled, name=name, address=address, phone=phone, opening_hours=opening_hours,
        policies=policies, menu=menu, faq=faq, tone=tone, examples=examples, language=language,
    ) | sentences  # fmt: skip

    async def change(session: AsyncSession) -> str:
        await write_assistant(session, user, parse_form(form))
        return "AI settings saved."

    return await save(deps, user, PAGE, change)
