"""The template picker (a conversation's, and writing first's) and the "New conversation" page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from inbox_api.auth.dependencies import Deps, PageUser
from inbox_api.auth.models import Principal
from inbox_api.deps import InboxDeps
from inbox_api.errors import NotFound
from inbox_api.wa_templates.service import (
    customer_language,
    list_templates,
    picker_order,
    stale_accounts,
    start_sync,
)
from inbox_api.web.pages import render_page
from inbox_api.web.templates import render
from omni_common.db.tenant_models import Chat
from omni_common.wa_templates.store import sync_state, whatsapp_accounts

router = APIRouter(include_in_schema=False)


def _ago(at: datetime) -> str:
    """How long ago, in words ("just now", "5 minutes ago", "3 hours ago", "2 days ago")."""
    seconds = max(0, int((datetime.now(UTC) - at).total_seconds()))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"


async def _picker(
    request: Request,
    deps: InboxDeps,
    user: Principal,
    account_id: uuid.UUID,
    *,
    mode: str,
    chat_id: uuid.UUID | None = None,
) -> HTMLResponse:
    async with deps.registry.session(user.tenant_id) as session:
        language = await customer_language(session, chat_id) if chat_id is not None else None
        found = picker_order(await list_templates(session, account_id), language)
        accounts = {str(a.id): a for a in await whatsapp_accounts(session)}
        account = accounts.get(str(account_id))
        state = await sync_state(session, [account.waba_id]) if account and account.waba_id else {}
        stale = await stale_accounts(session, account_id)
    start_sync(deps, user, stale, force=False)
    sync = next(iter(state.values()), None)
    context = {
        "templates": found,
        "mode": mode,
        "chat_id": str(chat_id) if chat_id else "",
        "account_id": str(account_id),
        "language": language,
        "syncing": bool(stale),
        "synced_at": sync.finished_at.isoformat() if sync and sync.finished_at else None,
        "synced_ago": _ago(sync.finished_at) if sync and sync.finished_at else None,
        "sync_error": sync.error if sync else None,
    }
    return render(request, "_template_list.html", context)


@router.get("/ui/conversations/{chat_id}/templates")
async def conversation_templates(
    request: Request, chat_id: uuid.UUID, user: PageUser, deps: Deps
) -> HTMLResponse:
    """The picker of a WhatsApp conversation: its number's templates, the customer's language first."""
    async with deps.registry.session(user.tenant_id) as session:
        chat = await session.get(Chat, chat_id)
    if chat is None:
        raise NotFound("no such conversation")
    return await _picker(request, deps, user, chat.social_account_id, mode="reply", chat_id=chat_id)


@router.get("/ui/templates")
async def account_templates(
    request: Request, account_id: uuid.UUID, user: PageUser, deps: Deps
) -> HTMLResponse:
    """The picker of "New conversation", for the number chosen."""
    return await _picker(request, deps, user, account_id, mode="new")


@router.get("/conversations/new")
async def new_conversation_page(request: Request, user: PageUser, deps: Deps) -> HTMLResponse:
    """Write first on WhatsApp: the number to write from, the customer's phone, a template."""
    async with deps.registry.session(user.tenant_id) as session:
        accounts = [
            {"id": str(a.id), "name": a.display_name or "WhatsApp number"}
            for a in await whatsapp_accounts(session)
            if a.is_active and a.status == "active"
        ]
    return await render_page(request, deps, user, "new_conversation.html", {"accounts": accounts})
