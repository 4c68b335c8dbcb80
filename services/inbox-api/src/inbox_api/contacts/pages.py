"""The customer panel beside a conversation (an htmx fragment) and its link / unlink forms."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from inbox_api.auth.dependencies import Deps, PageUser
from inbox_api.auth.models import Principal
from inbox_api.contacts.service import fetch_name, link, link_candidates, panel, unlink
from inbox_api.deps import InboxDeps
from inbox_api.web.forms import FormError, FormUser, attempt
from inbox_api.web.templates import render

router = APIRouter(include_in_schema=False)


async def panel_fragment(
    request: Request,
    deps: InboxDeps,
    user: Principal,
    chat_id: uuid.UUID,
    *,
    done: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with deps.registry.session(user.tenant_id) as session:
        view = await panel(session, chat_id)
        candidates = await link_candidates(session, uuid.UUID(view["contact_id"]))
    context = {
        "p": view,
        "candidates": candidates,
        "csrf": deps.signer.csrf_token(user.sid),
        "done": done,
        "error": error,
    }
    return render(request, "_contact_panel.html", context, status)


@router.get("/ui/conversations/{chat_id}/customer")
async def customer_panel(request: Request, chat_id: uuid.UUID, user: PageUser, deps: Deps) -> HTMLResponse:
    await fetch_name(deps, user, chat_id)  # once per customer without a name (Messenger, Instagram)
    return await panel_fragment(request, deps, user, chat_id)


@router.post("/ui/conversations/{chat_id}/customer/link")
async def link_submit(
    request: Request,
    chat_id: uuid.UUID,
    user: FormUser,
    deps: Deps,
    contact_id: Annotated[uuid.UUID, Form()],
    other_contact_id: Annotated[str, Form()] = "",
) -> HTMLResponse:
    async def work() -> str:
        try:
            other = uuid.UUID(other_contact_id)
        except ValueError as exc:
            raise FormError("Choose the customer to link with.") from exc
        async with deps.registry.begin(user.tenant_id) as session:
            await link(session, user, contact_id, other)
        return "Linked: their conversations are shown together."

    outcome = await attempt(work, refused="Not linked: {}.")
    return await panel_fragment(
        request, deps, user, chat_id, done=outcome.done, error=outcome.error, status=outcome.status
    )


@router.post("/ui/conversations/{chat_id}/customer/unlink")
async def unlink_submit(
    request: Request,
    chat_id: uuid.UUID,
    user: FormUser,
    deps: Deps,
    contact_id: Annotated[uuid.UUID, Form()],
) -> HTMLResponse:
    async def work() -> str:
        async with deps.registry.begin(user.tenant_id) as session:
            await unlink(session, user, contact_id)
        return "Unlinked."

    outcome = await attempt(work, refused="Not unlinked: {}.")
    return await panel_fragment(
        request, deps, user, chat_id, done=outcome.done, error=outcome.error, status=outcome.status
    )
