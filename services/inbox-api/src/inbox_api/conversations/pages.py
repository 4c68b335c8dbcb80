"""The inbox page and its fragments: the conversation list, the open conversation, and its tools
(state, snooze, assignee) with their forms."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from inbox_api.auth.dependencies import Deps, PageUser
from inbox_api.auth.models import Principal
from inbox_api.conversations.models import ConversationQuery, QueueFilters, page_filters
from inbox_api.conversations.service import (
    assignable_users,
    change_conversation,
    get_conversation,
    list_conversations,
    unread_conversations,
)
from inbox_api.conversations.thread import thread_view
from inbox_api.deps import InboxDeps
from inbox_api.display.service import restaurant_zone
from inbox_api.errors import NotFound
from inbox_api.labels.service import list_labels
from inbox_api.web.forms import FormError, FormUser, attempt
from inbox_api.web.pages import render_page
from inbox_api.web.templates import render
from omni_common.domain.channels import is_channel

router = APIRouter(include_in_schema=False)
PageFilters = Annotated[QueueFilters, Depends(page_filters)]


async def _list_context(
    deps: InboxDeps, user: Principal, channel: str | None, q: str | None, filters: QueueFilters
) -> dict[str, Any]:
    channel = channel if channel is not None and is_channel(channel) else None
    query = ConversationQuery(
        channel=channel, search=q or None, limit=100, filters=filters, viewer=user.user_id
    )
    async with deps.registry.session(user.tenant_id) as session:
        page = await list_conversations(session, query)
        unread = await unread_conversations(session, user.user_id)
        labels = await list_labels(session)
        zone = await restaurant_zone(session)
    return {
        "zone": zone,
        "conversations": page["items"],
        "channel": channel,
        "q": q or "",
        "filters": filters,
        "labels": labels,
        "unread_total": unread,
    }


@router.get("/inbox")
async def inbox_page(
    request: Request,
    user: PageUser,
    deps: Deps,
    filters: PageFilters,
    c: uuid.UUID | None = None,
    channel: str | None = None,
    q: str | None = None,
) -> HTMLResponse:
    thread = None
    if c is not None:
        try:
            thread = await thread_view(deps, user, c)  # read-only: the page POSTs /read (app.js)
        except NotFound:
            thread = None  # a stale link: the list without a conversation
    context = await _list_context(deps, user, channel, q, filters)
    selected = {"thread": thread, "selected": str(c) if c else None}
    return await render_page(request, deps, user, "inbox.html", context | selected)


@router.get("/ui/conversations")
async def conversation_list(
    request: Request,
    user: PageUser,
    deps: Deps,
    filters: PageFilters,
    channel: str | None = None,
    q: str | None = None,
    c: str | None = None,
) -> HTMLResponse:
    context = await _list_context(deps, user, channel, q, filters)
    return render(request, "_conv_list.html", context | {"selected": c})


@router.get("/ui/conversations/{chat_id}")
async def thread_fragment(request: Request, chat_id: uuid.UUID, user: PageUser, deps: Deps) -> HTMLResponse:
    thread = await thread_view(deps, user, chat_id)
    return render(request, "_thread.html", {"thread": thread, "csrf": deps.signer.csrf_token(user.sid)})


async def tools_html(
    request: Request, deps: InboxDeps, user: Principal, chat_id: uuid.UUID, error: str | None = None
) -> HTMLResponse:
    """The conversation's tools (state, snooze, assignee, labels), with a form's refusal above them."""
    async with deps.registry.session(user.tenant_id) as session:
        chat = await get_conversation(session, chat_id, viewer=user.user_id)
        users = await assignable_users(session)
        labels = await list_labels(session)
    on = {label["id"] for label in chat["labels"]}
    addable = [label for label in labels if label["id"] not in on]
    context = {"chat": chat, "users": users, "addable": addable, "error": error, "me": str(user.user_id)}
    return render(request, "_thread_tools.html", context)


@router.get("/ui/conversations/{chat_id}/tools")
async def tools_fragment(request: Request, chat_id: uuid.UUID, user: PageUser, deps: Deps) -> HTMLResponse:
    return await tools_html(request, deps, user, chat_id)


def _snooze_until(snooze_for: str, snoozed_until: str, now: datetime) -> datetime | None:
    if snoozed_until:  # from the custom picker, converted to UTC by the page's script
        try:
            return datetime.fromisoformat(snoozed_until.replace("Z", "+00:00"))
        except ValueError as exc:
            raise FormError(str(exc)) from exc
    if snooze_for.isdigit():
        return now + timedelta(minutes=int(snooze_for))
    return None


@router.post("/ui/conversations/{chat_id}/state")
async def state_submit(
    request: Request,
    chat_id: uuid.UUID,
    user: FormUser,
    deps: Deps,
    state: Annotated[str, Form()],
    snooze_for: Annotated[str, Form()] = "",
    snoozed_until: Annotated[str, Form()] = "",
) -> HTMLResponse:
    async def work() -> None:
        changes: dict[str, Any] = {"state": state}
        if state == "snoozed":
            changes["snoozed_until"] = _snooze_until(snooze_for, snoozed_until, datetime.now(UTC))
        await change_conversation(deps, user, chat_id, changes)

    outcome = await attempt(work)
    return await tools_html(request, deps, user, chat_id, outcome.error)


@router.post("/ui/conversations/{chat_id}/assignee")
async def assignee_submit(
    request: Request,
    chat_id: uuid.UUID,
    user: FormUser,
    deps: Deps,
    assignee_user_id: Annotated[str, Form()] = "",
) -> HTMLResponse:
    async def work() -> None:
        try:
            target = uuid.UUID(assignee_user_id) if assignee_user_id else None
        except ValueError as exc:
            raise FormError("Choose someone from the list.") from exc
        await change_conversation(deps, user, chat_id, {"assignee_user_id": target})

    outcome = await attempt(work)
    return await tools_html(request, deps, user, chat_id, outcome.error)
