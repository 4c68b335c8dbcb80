"""The settings page (connected accounts, notices), its account forms, and the notices banner."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from inbox_api.accounts.form import error_field, read_account_form
from inbox_api.accounts.models import AccountPatch, account_dict
from inbox_api.accounts.notifications import list_notifications
from inbox_api.accounts.service import connect, patch, test_connection
from inbox_api.auth.dependencies import Deps, PageUser
from inbox_api.auth.models import Principal
from inbox_api.deps import InboxDeps
from inbox_api.errors import MetaUnreachable, answer
from inbox_api.web.forms import FormError, FormUser, back_to, submit
from inbox_api.web.pages import Notice, PageNotice, page_context, render_page
from inbox_api.web.templates import render
from omni_common.domain.channels import channel_name
from omni_common.errors import OmniError
from omni_common.tenancy.accounts import list_accounts

PAGE = "/settings"
HINTS = {"token": "the token needs at least 8 characters"}  # "Replace token", the one field it posts
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
    return await _settings(request, user, deps, {}, notice)


async def _settings(
    request: Request,
    user: Principal,
    deps: InboxDeps,
    extra: dict[str, Any],
    notice: Notice | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with deps.registry.session(user.tenant_id) as session:
        views = [account_dict(v) for v in await list_accounts(session)]
        all_notes = await list_notifications(session, open_only=False)
    context = {
        "accounts": views,
        "all_notifications": all_notes,
        "connect_form": {},
        "connect_errors": {},
        "my_name": user.name,  # the principal is read afresh from the database on every request
        "my_name_set": bool(user.display_name),
        "facebook_ready": deps.facebook is not None,  # the Meta app is set up (connect/)
        # WhatsApp Embedded Signup: its own button; the popup's messages count only from this origin
        "embedded_signup": deps.facebook is not None and bool(deps.facebook.es_config_id),
        "dialog_origin": _origin(deps.facebook.dialog_url) if deps.facebook is not None else "",
    }
    response = await render_page(request, deps, user, "settings.html", context | extra, notice)
    response.status_code = status
    return response


@router.get("/ui/banner")
async def banner_fragment(request: Request, user: PageUser, deps: Deps) -> HTMLResponse:
    return render(request, "_banner.html", await page_context(deps, user))


@router.post("/settings/accounts", response_model=None)
async def connect_submit(
    request: Request,
    user: FormUser,
    deps: Deps,
    channel: Annotated[str, Form()] = "",
    external_account_id: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    waba_id: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
) -> HTMLResponse | RedirectResponse:
    """Connect; on any problem the page comes back with each field's own error next to it and what
    was typed still in the fields (the token excepted: it is never sent back to the browser)."""
    form = read_account_form(
        {
            "channel": channel,
            "external_account_id": external_account_id,
            "token": token,
            "waba_id": waba_id,
            "display_name": display_name,
        }
    )
    if form.body is not None:
        try:
            await connect(deps, user, form.body)
            return back_to(PAGE, msg=f"{channel_name(form.body.channel)} account connected.")
        except OmniError as exc:
            found = answer(exc)
            if found is None or found.status in (404, 503):
                raise
            form.errors[error_field(exc)] = f"Not connected: {found.sentence()}"
    extra = {"connect_form": form.shown(), "connect_errors": form.errors}
    return await _settings(request, user, deps, extra, status=422)


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


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
