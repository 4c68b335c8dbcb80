"""Pages and fragments of the team inbox: the conversation's tools (state, snooze, assignee, labels),
notes from the composer, quick replies and labels in settings, and the owners' audit page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from inbox_api import labels as labels_mod
from inbox_api import quick_replies as qr_mod
from inbox_api.audit_api import list_audit, may_read_audit
from inbox_api.auth import AuthProblem, Deps, Principal
from inbox_api.conversations import get_conversation
from inbox_api.deps import InboxDeps
from inbox_api.notes import post_note
from inbox_api.web import PageUser, _common, _require_csrf, _thread_context, render, templates
from inbox_api.workflow import WorkflowError, assignable_users, change_conversation

SNOOZE_CHOICES = ((60, "1 hour"), (180, "3 hours"), (1440, "1 day"), (10080, "1 week"))
templates.env.globals["SNOOZE_CHOICES"] = SNOOZE_CHOICES
router = APIRouter(include_in_schema=False)


async def _tools(
    request: Request, deps: InboxDeps, user: Principal, chat_id: uuid.UUID, error: str | None = None
) -> HTMLResponse:
    async with deps.registry.session(user.tenant_id) as session:
        chat = await get_conversation(session, chat_id, viewer=user.user_id)
        if chat is None:
            return HTMLResponse("<p role='alert'>No such conversation.</p>", status_code=404)
        users = await assignable_users(session)
        labels = await labels_mod.list_labels(session)
    on = {label["id"] for label in chat["labels"]}
    return render(
        request,
        "_thread_tools.html",
        {
            "chat": chat,
            "users": users,
            "addable": [label for label in labels if label["id"] not in on],
            "error": error,
        },
    )


@router.get("/ui/conversations/{chat_id}/tools")
async def tools_fragment(request: Request, chat_id: uuid.UUID, user: PageUser, deps: Deps) -> HTMLResponse:
    return await _tools(request, deps, user, chat_id)


def _snooze_until(snooze_for: str, snoozed_until: str, now: datetime) -> datetime | None:
    if snoozed_until:  # from the custom picker, converted to UTC by the page's script
        return datetime.fromisoformat(snoozed_until.replace("Z", "+00:00"))
    if snooze_for.isdigit():
        return now + timedelta(minutes=int(snooze_for))
    return None


@router.post("/ui/conversations/{chat_id}/state")
async def state_submit(
    request: Request,
    chat_id: uuid.UUID,
    user: PageUser,
    deps: Deps,
    state: Annotated[str, Form()],
    snooze_for: Annotated[str, Form()] = "",
    snoozed_until: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> HTMLResponse:
    _require_csrf(deps, user, request, csrf_token)
    changes: dict[str, Any] = {"state": state}
    error = None
    try:
        if state == "snoozed":
            changes["snoozed_until"] = _snooze_until(snooze_for, snoozed_until, datetime.now(UTC))
        await change_conversation(deps, user, chat_id, changes)
    except (WorkflowError, ValueError) as exc:
        error = str(exc)
    return await _tools(request, deps, user, chat_id, error)


@router.post("/ui/conversations/{chat_id}/assignee")
async def assignee_submit(
    request: Request,
    chat_id: uuid.UUID,
    user: PageUser,
    deps: Deps,
    assignee_user_id: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> HTMLResponse:
    _require_csrf(deps, user, request, csrf_token)
    error = None
    try:
        target = uuid.UUID(assignee_user_id) if assignee_user_id else None
        await change_conversation(deps, user, chat_id, {"assignee_user_id": target})
    except (WorkflowError, ValueError) as exc:
        error = str(exc) if isinstance(exc, WorkflowError) else "Choose someone from the list."
    return await _tools(request, deps, user, chat_id, error)


@router.post("/ui/conversations/{chat_id}/labels")
async def labels_submit(
    request: Request,
    chat_id: uuid.UUID,
    user: PageUser,
    deps: Deps,
    add: Annotated[str, Form()] = "",
    remove: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> HTMLResponse:
    _require_csrf(deps, user, request, csrf_token)
    error = None
    try:
        if add:
            await labels_mod.change_chat_label(deps, user, chat_id, uuid.UUID(add), True)
        if remove:
            await labels_mod.change_chat_label(deps, user, chat_id, uuid.UUID(remove), False)
    except ValueError:
        error = "Choose a label from the list."
    return await _tools(request, deps, user, chat_id, error)


@router.post("/ui/conversations/{chat_id}/notes")
async def note_submit(
    request: Request,
    chat_id: uuid.UUID,
    user: PageUser,
    deps: Deps,
    body: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """The composer's Note mode: writes a private note (never a message) and re-renders the history."""
    _require_csrf(deps, user, request, csrf_token)
    error = None
    text = body.strip()
    if not text:
        error = "Write something first."
    elif len(text) > 4096:
        error = "A note can be at most 4096 characters."
    elif await post_note(deps, user, chat_id, text) is None:
        return HTMLResponse("<p role='alert'>No such conversation.</p>", status_code=404)
    thread = await _thread_context(deps, user, chat_id)
    response = render(request, "_messages.html", {"thread": thread, "error": error})
    response.headers["X-Note-Status"] = "422" if error else "201"
    return response


# --- settings: quick replies and labels ---------------------------------------------------------


def _back(msg: str | None = None, err: str | None = None) -> RedirectResponse:
    query = urlencode({k: v for k, v in (("msg", msg), ("err", err)) if v})
    return RedirectResponse("/settings/inbox" + (f"?{query}" if query else ""), status_code=303)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err.get("loc", ()))
    hints = {
        "shortcut": "the shortcut takes 1-32 lowercase letters, digits, - or _",
        "body": "the text is needed (4096 characters at most)",
        "name": "the name takes 1-40 characters",
        "color": "the colour must look like #1a2b3c",
    }
    return hints.get(field, "check the fields")


@router.get("/settings/inbox")
async def inbox_settings_page(
    request: Request, user: PageUser, deps: Deps, msg: str | None = None, err: str | None = None
) -> HTMLResponse:
    async with deps.registry.session(user.tenant_id) as session:
        replies = await qr_mod.list_quick_replies(session)
        labels = await labels_mod.list_labels(session)
    context = await _common(deps, user) | {"replies": replies, "labels": labels, "msg": msg, "err": err}
    return render(request, "settings_inbox.html", context)


@router.post("/settings/quick-replies")
async def quick_reply_add(
    request: Request,
    user: PageUser,
    deps: Deps,
    shortcut: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    _require_csrf(deps, user, request, csrf_token)
    try:
        data = qr_mod.QuickReplyIn(shortcut=shortcut, body=body)
        async with deps.registry.begin(user.tenant_id) as session:
            await qr_mod.create_quick_reply(session, user, data)
    except ValidationError as exc:
        return _back(err=f"Not saved: {_first_error(exc)}.")
    except qr_mod.ShortcutTaken as exc:
        return _back(err=f"Not saved: {exc}.")
    return _back(msg=f"Quick reply /{data.shortcut} saved.")


@router.post("/settings/quick-replies/{qr_id}")
async def quick_reply_change(
    request: Request,
    qr_id: uuid.UUID,
    user: PageUser,
    deps: Deps,
    action: Annotated[str, Form()],
    shortcut: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    _require_csrf(deps, user, request, csrf_token)
    try:
        async with deps.registry.begin(user.tenant_id) as session:
            if action == "delete":
                found = await qr_mod.delete_quick_reply(session, user, qr_id)
            else:
                data = qr_mod.QuickReplyPatch(shortcut=shortcut, body=body)
                found = await qr_mod.update_quick_reply(session, user, qr_id, data) is not None
    except ValidationError as exc:
        return _back(err=f"Not saved: {_first_error(exc)}.")
    except qr_mod.ShortcutTaken as exc:
        return _back(err=f"Not saved: {exc}.")
    if not found:
        return _back(err="No such quick reply.")
    return _back(msg="Quick reply deleted." if action == "delete" else "Quick reply saved.")


@router.post("/settings/labels")
async def label_add(
    request: Request,
    user: PageUser,
    deps: Deps,
    name: Annotated[str, Form()] = "",
    color: Annotated[str, Form()] = labels_mod.DEFAULT_COLOR,
    csrf_token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    _require_csrf(deps, user, request, csrf_token)
    try:
        data = labels_mod.LabelIn(name=name, color=color)
        async with deps.registry.begin(user.tenant_id) as session:
            await labels_mod.create_label(session, user, data)
    except ValidationError as exc:
        return _back(err=f"Not saved: {_first_error(exc)}.")
    except labels_mod.LabelExists as exc:
        return _back(err=f"Not saved: {exc}.")
    return _back(msg=f"Label {data.name} saved.")


@router.post("/settings/labels/{label_id}")
async def label_change(
    request: Request,
    label_id: uuid.UUID,
    user: PageUser,
    deps: Deps,
    action: Annotated[str, Form()],
    name: Annotated[str, Form()] = "",
    color: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    _require_csrf(deps, user, request, csrf_token)
    try:
        async with deps.registry.begin(user.tenant_id) as session:
            if action == "delete":
                found = await labels_mod.delete_label(session, user, label_id)
            else:
                data = labels_mod.LabelPatch(name=name, color=color or None)
                found = await labels_mod.update_label(session, user, label_id, data) is not None
    except ValidationError as exc:
        return _back(err=f"Not saved: {_first_error(exc)}.")
    except labels_mod.LabelExists as exc:
        return _back(err=f"Not saved: {exc}.")
    if not found:
        return _back(err="No such label.")
    return _back(msg="Label deleted." if action == "delete" else "Label saved.")


# --- the owners' audit page -----------------------------------------------------------------------

AUDIT_GROUPS = (
    ("", "Everything"),
    ("reply.", "Replies sent"),
    ("suggestion.", "AI suggestions used"),
    ("conversation.", "Conversations (state, assignment, labels)"),
    ("note.", "Notes"),
    ("quick_reply.", "Quick replies"),
    ("label.", "Labels"),
    ("assistant.", "AI settings"),
    ("account.", "Accounts"),
)


@router.get("/audit")
async def audit_page(
    request: Request, user: PageUser, deps: Deps, action: str = "", before: int | None = None
) -> HTMLResponse:
    if not may_read_audit(user):
        raise AuthProblem(403, "Only the owner can see the audit trail.")
    action = action if action in dict(AUDIT_GROUPS) else ""
    async with deps.registry.session(user.tenant_id) as session:
        page = await list_audit(session, action=action or None, before_id=before, limit=100)
    context = await _common(deps, user) | {
        "entries": page["items"],
        "next_before": page["next_before"],
        "action": action,
        "groups": AUDIT_GROUPS,
    }
    return render(request, "audit.html", context)
