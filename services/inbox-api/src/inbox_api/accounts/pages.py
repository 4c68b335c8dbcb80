"""The settings page (connected accounts, notices), its account forms, and the notices banner."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from inbox_api.accounts.models import AccountIn, AccountPatch, account_dict
from inbox_api.accounts.notifications import list_notifications
from inbox_api.accounts.service import connect, patch, test_connection
from inbox_api.auth.dependencies import Deps, PageUser
from inbox_api.auth.models import Principal
from inbox_api.deps import InboxDeps
from inbox_api.errors import MetaUnreachable
from inbox_api.web.forms import FormError, FormUser, submit
from inbox_api.web.pages import PageNotice, page_context, render_page
from inbox_api.web.templates import render
from omni_common.domain.channels import channel_name
from omni_common.tenancy.accounts import list_accounts

PAGE = "/settings"
HINTS = {
    "channel": "choose WhatsApp, Messenger or Instagram",
    "external_account_id": "the account id takes letters, digits, '.', '_' or '-' (64 at most)",
    "token": "the token needs at least 8 characters",
    "waba_id": "the WhatsApp Business Account id takes 64 characters at most",
    "display_name": "the display name takes 200 characters at most",
}
DONE = {
    "enable": "enabled",
    "disable": "disabled",
    "token": "token replaced",
    "human_agent_on": "now replies up to 7 days as a human agent",
    "human_agent_off": "replies only within 24 hours again",
}
router = APIRouter(include_in_schema=False)


@router.get(PAGE)
async def settings_page(request: Request, user: PageUser, deps: Deps, notice: PageNotice) -> HTMLResponse:
    async with deps.registry.session(user.tenant_id) as session:
        views = [account_dict(v) for v in await list_accounts(session)]
        all_notes = await list_notifications(session, open_only=False)
    context = {"accounts": views, "all_notifications": all_notes}
    return await render_page(request, deps, user, "settings.html", context, notice)


@router.get("/ui/banner")
async def banner_fragment(request: Request, user: PageUser, deps: Deps) -> HTMLResponse:
    return render(request, "_banner.html", await page_context(deps, user))


@router.post("/settings/accounts")
async def connect_submit(
    user: FormUser,
    deps: Deps,
    channel: Annotated[str, Form()],
    external_account_id: Annotated[str, Form()],
    token: Annotated[str, Form()],
    waba_id: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
) -> RedirectResponse:
    async def work() -> str:
        body = AccountIn.model_validate(
            {
                "channel": channel,
                "external_account_id": external_account_id.strip(),
                "token": token.strip(),
                "waba_id": waba_id.strip() or None,
                "display_name": display_name.strip() or None,
            }
        )
        await connect(deps, user, body)
        return f"{channel_name(channel)} account connected."

    return await submit(PAGE, work, hints=HINTS)


async def _test(deps: InboxDeps, user: Principal, account_id: uuid.UUID) -> str:
    try:
        result = await test_connection(deps, user, account_id)
    except MetaUnreachable as exc:
        raise FormError(str(exc)) from exc
    if not result["ok"]:
        raise FormError(f"Connection test failed: {result['reason']}")
    return f"Connection works ({result['display_name'] or 'not checked with Meta'})."


@router.post("/settings/accounts/{account_id}")
async def change_submit(
    account_id: uuid.UUID,
    user: FormUser,
    deps: Deps,
    action: Annotated[str, Form()],
    token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    if action == "test":
        return await submit(PAGE, lambda: _test(deps, user, account_id))

    async def work() -> str:
        if action == "token":
            body = AccountPatch(token=token.strip())
        elif action in ("human_agent_on", "human_agent_off"):
            body = AccountPatch(human_agent=action == "human_agent_on")
        else:
            body = AccountPatch(enabled=action == "enable")
        view = await patch(deps, user, account_id, body)
        return f"Account {view.external_account_id} {DONE.get(action, 'updated')}."

    return await submit(PAGE, work, hints=HINTS)
