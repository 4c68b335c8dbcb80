"""The composer's Note mode."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from inbox_api.auth.dependencies import Deps
from inbox_api.messages.pages import history_fragment
from inbox_api.notes.models import NOTE_MAX
from inbox_api.notes.service import post_note
from inbox_api.web.forms import FormError, FormUser, attempt

router = APIRouter(include_in_schema=False)


@router.post("/ui/conversations/{chat_id}/notes")
async def note_submit(
    request: Request, chat_id: uuid.UUID, user: FormUser, deps: Deps, body: Annotated[str, Form()] = ""
) -> HTMLResponse:
    """Write a private note (never a message) and re-render the history."""

    async def work() -> None:
        text = body.strip()
        if not text:
            raise FormError("Write something first.")
        if len(text) > NOTE_MAX:
            raise FormError(f"A note can be at most {NOTE_MAX} characters.")
        await post_note(deps, user, chat_id, text)

    outcome = await attempt(work)
    response = await history_fragment(request, deps, user, chat_id, outcome.error)
    response.headers["X-Note-Status"] = "422" if outcome.error else "201"
    return response
