"""The settings page of the team inbox (quick replies and labels) and its quick reply forms."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.dependencies import Deps, PageUser
from inbox_api.labels.service import list_labels
from inbox_api.quick_replies.models import QuickReplyIn, QuickReplyPatch
from inbox_api.quick_replies.service import (
    create_quick_reply,
    delete_quick_reply,
    list_quick_replies,
    update_quick_reply,
)
from inbox_api.web.forms import FormUser, save, save_or_delete
from inbox_api.web.pages import PageNotice, render_page

PAGE = "/settings/inbox"
HINTS = {
    "shortcut": "the shortcut takes 1-32 lowercase letters, digits, - or _",
    "body": "the text is needed (4096 characters at most)",
}
router = APIRouter(include_in_schema=False)


@router.get(PAGE)
async def inbox_settings_page(
    request: Request, user: PageUser, deps: Deps, notice: PageNotice
) -> HTMLResponse:
    async with deps.registry.session(user.tenant_id) as session:
        context = {"replies": await list_quick_replies(session), "labels": await list_labels(session)}
    return await render_page(request, deps, user, "settings_inbox.html", context, notice)


@router.post("/settings/quick-replies")
async def quick_reply_add(
    user: FormUser,
    deps: Deps,
    shortcut: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
) -> RedirectResponse:
    async def change(session: AsyncSession) -> str:
        saved = await create_quick_reply(session, user, QuickReplyIn(shortcut=shortcut, body=body))
        return f"Quick reply /{saved['shortcut']} saved."

    return await save(deps, user, PAGE, change, hints=HINTS)


@router.post("/settings/quick-replies/{qr_id}")
async def quick_reply_change(
    qr_id: uuid.UUID,
    user: FormUser,
    deps: Deps,
    action: Annotated[str, Form()],
    shortcut: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
) -> RedirectResponse:
    return await save_or_delete(
        deps,
        user,
        PAGE,
        action,
        noun="Quick reply",
        update=lambda session: update_quick_reply(
            session, user, qr_id, QuickReplyPatch(shortcut=shortcut, body=body)
        ),
        delete=lambda session: delete_quick_reply(session, user, qr_id),
        hints=HINTS,
    )
