"""HTML of the open conversation's history: the messages fragment, and the reply and reaction forms."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from inbox_api.auth.dependencies import Deps, PageUser
from inbox_api.auth.models import Principal
from inbox_api.conversations.thread import thread_view
from inbox_api.deps import InboxDeps
from inbox_api.messages.service import react, send_reply
from inbox_api.web.forms import FormError, FormUser, attempt
from inbox_api.web.templates import render
from omni_common.db.trouble import DATABASE_TROUBLE

router = APIRouter(include_in_schema=False)


async def history_fragment(
    request: Request, deps: InboxDeps, user: Principal, chat_id: uuid.UUID, error: str | None = None
) -> HTMLResponse:
    """The conversation's history (messages and notes), with a form's refusal above it."""
    thread = await thread_view(deps, user, chat_id)
    return render(request, "_messages.html", {"thread": thread, "error": error})


@router.get("/ui/conversations/{chat_id}/messages")
async def messages_fragment(request: Request, chat_id: uuid.UUID, user: PageUser, deps: Deps) -> HTMLResponse:
    return await history_fragment(request, deps, user, chat_id)


def _uuid_or_none(value: str, problem: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError as exc:
        raise FormError(problem) from exc


@router.post("/ui/conversations/{chat_id}/reply")
async def reply_submit(
    request: Request,
    chat_id: uuid.UUID,
    user: FormUser,
    deps: Deps,
    text: Annotated[str, Form()] = "",
    reply_to: Annotated[str, Form()] = "",
    suggestion_id: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """The composer: queue the reply and re-render the history (a refusal as an alert above it)."""

    async def work() -> None:
        target = _uuid_or_none(reply_to, "The quoted message is not valid.")
        draft = _uuid_or_none(suggestion_id, "The quoted message is not valid.")
        await send_reply(deps, user, chat_id, text, target, draft)

    outcome = await attempt(work)
    try:
        # htmx swaps only 2xx answers by default: the refusal is shown with a 200 and an alert.
        response = await history_fragment(request, deps, user, chat_id, outcome.error)
    except DATABASE_TROUBLE:
        if outcome.status != 200:
            raise
        # The reply is queued; only showing the history again failed. Answering 503 would make the
        # page send it again: say it went, keep the history on screen (the live update shows it).
        response = HTMLResponse("", headers={"HX-Reswap": "none"})
    response.headers["X-Reply-Status"] = str(outcome.status)
    return response


@router.post("/ui/conversations/{chat_id}/messages/{message_id}/reactions")
async def reaction_submit(
    request: Request,
    chat_id: uuid.UUID,
    message_id: uuid.UUID,
    user: FormUser,
    deps: Deps,
    emoji: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """The conversation view's reaction buttons: re-render the messages (with an alert if refused)."""

    async def work() -> None:
        await react(deps, user, chat_id, message_id, emoji)

    outcome = await attempt(work)
    return await history_fragment(request, deps, user, chat_id, outcome.error)
