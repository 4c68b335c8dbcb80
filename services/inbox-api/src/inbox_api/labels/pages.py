"""Labels in the HTML: putting one on the open conversation, and the settings page's label forms."""

from __future__ import annotations

import uuid
from contextlib import suppress
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.dependencies import Deps
from inbox_api.conversations.pages import tools_html
from inbox_api.errors import NotFound
from inbox_api.labels.models import DEFAULT_COLOR, LabelIn, LabelPatch
from inbox_api.labels.service import change_chat_label, create_label, delete_label, update_label
from inbox_api.web.forms import FormError, FormUser, attempt, save, save_or_delete

INBOX_SETTINGS = "/settings/inbox"
HINTS = {"name": "the name takes 1-40 characters", "color": "the colour must look like #1a2b3c"}
router = APIRouter(include_in_schema=False)


@router.post("/ui/conversations/{chat_id}/labels")
async def labels_submit(
    request: Request,
    chat_id: uuid.UUID,
    user: FormUser,
    deps: Deps,
    add: Annotated[str, Form()] = "",
    remove: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """The conversation's label chips: add or take off one, then re-render the tools."""

    async def work() -> None:
        for value, on in ((add, True), (remove, False)):
            if not value:
                continue
            try:
                label_id = uuid.UUID(value)
            except ValueError as exc:
                raise FormError("Choose a label from the list.") from exc
            # A label deleted meanwhile: the re-rendered tools show the labels there are now.
            with suppress(NotFound):
                await change_chat_label(deps, user, chat_id, label_id, on)

    outcome = await attempt(work)
    return await tools_html(request, deps, user, chat_id, outcome.error)


@router.post("/settings/labels")
async def label_add(
    user: FormUser,
    deps: Deps,
    name: Annotated[str, Form()] = "",
    color: Annotated[str, Form()] = DEFAULT_COLOR,
) -> RedirectResponse:
    async def change(session: AsyncSession) -> str:
        label = await create_label(session, user, LabelIn(name=name, color=color))
        return f"Label {label['name']} saved."

    return await save(deps, user, INBOX_SETTINGS, change, hints=HINTS)


@router.post("/settings/labels/{label_id}")
async def label_change(
    label_id: uuid.UUID,
    user: FormUser,
    deps: Deps,
    action: Annotated[str, Form()],
    name: Annotated[str, Form()] = "",
    color: Annotated[str, Form()] = "",
) -> RedirectResponse:
    return await save_or_delete(
        deps,
        user,
        INBOX_SETTINGS,
        action,
        noun="Label",
        update=lambda session: update_label(
            session, user, label_id, LabelPatch(name=name, color=color or None)
        ),
        delete=lambda session: delete_label(session, user, label_id),
        hints=HINTS,
    )
