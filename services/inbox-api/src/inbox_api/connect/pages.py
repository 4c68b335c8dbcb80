"""HTML routes of "Continue with Facebook": start (to Meta's dialog), callback (choose what to connect),
finish (connect and subscribe). Owners only: connecting a channel routes its customers' messages to
this restaurant and hands Meta permissions to the app, a decision for the business owner (managers
keep the manual form, which needs a token an owner made).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from inbox_api.auth.dependencies import Deps, PageUser
from inbox_api.connect.gate import BAD_STATE, SETTINGS, owner_login
from inbox_api.connect.meta import (
    LoginProblem,
    declined,
    dialog_url,
    discover,
    embedded,
    exchange_code,
    inspect,
    parse_channels,
)
from inbox_api.connect.service import CHANNEL_WORDS, PERMISSION_WORDS, finish
from inbox_api.connect.signup_pages import hand_back
from inbox_api.web.forms import FormUser, back_to
from inbox_api.web.pages import render_page

router = APIRouter(include_in_schema=False)


@router.get("/connect/facebook/start")
async def start(user: PageUser, deps: Deps, channels: str = "") -> RedirectResponse:
    login = owner_login(deps, user)
    asked = parse_channels(channels)
    es = embedded(login, asked)
    state = login.store.issue(user.sid, user.tenant_id, user.user_id, asked, embedded=es)
    return RedirectResponse(dialog_url(login, state, asked), status_code=302)


@router.get("/connect/facebook/callback", response_model=None)
async def callback(
    request: Request,
    user: PageUser,
    deps: Deps,
    code: str = "",
    state: str = "",
    error: str = "",
) -> HTMLResponse | RedirectResponse:
    login = owner_login(deps, user)
    pending = login.store.look(state, user.sid) if state else None
    if pending is not None and pending.embedded and pending.tenant_id == user.tenant_id:
        # Embedded Signup: the code goes on to the page that opened the popup (or is posted from here)
        return await hand_back(request, deps, user, state=state, code=code, error=error)
    pending = login.store.take(state, user.sid) if state else None
    if pending is None or pending.tenant_id != user.tenant_id:
        response = await render_page(request, deps, user, "connect_facebook.html", {"problem": BAD_STATE})
        response.status_code = 400
        return response
    if error or not code:
        return back_to(SETTINGS, err="You cancelled the Facebook sign-in; nothing was connected.")
    try:
        token = await exchange_code(login, code)
        granted = await inspect(login, token)
        assets = await discover(login, token, granted)
    except LoginProblem as exc:
        return back_to(SETTINGS, err=f"Not connected: {exc}")
    missing = declined(pending.channels, granted)
    if "instagram" not in pending.channels:
        assets["pages"] = [p | {"instagram_id": None} for p in assets["pages"]]
    if "facebook" not in pending.channels and "instagram" not in pending.channels:
        assets["pages"] = []
    handle = login.store.keep(login.store.choices(user.sid, user.tenant_id, token, assets, granted.scopes))
    context = {
        "pick": handle,
        "pages": assets["pages"],
        "numbers": assets["numbers"],
        "with_messenger": "facebook" in pending.channels,
        "declined": [
            {"channel": CHANNEL_WORDS[c], "what": [PERMISSION_WORDS.get(s, s) for s in scopes]}
            for c, scopes in missing.items()
        ],
    }
    return await render_page(request, deps, user, "connect_facebook.html", context)


@router.post("/connect/facebook/finish", response_model=None)
async def finish_submit(
    request: Request,
    user: FormUser,
    deps: Deps,
    pick: Annotated[str, Form()] = "",
    asset: Annotated[list[str] | None, Form()] = None,
) -> HTMLResponse | RedirectResponse:
    login = owner_login(deps, user)
    choices = login.store.peek(pick, user.sid) if pick else None
    if choices is None or choices.tenant_id != user.tenant_id:
        return back_to(SETTINGS, err="That choice expired; start again with Continue with Facebook.")
    if not asset:
        return back_to(SETTINGS, err="Nothing was ticked, so nothing was connected.")
    login.store.drop(pick)  # single use: a second post finds nothing
    outcomes = await finish(deps, login, user, choices, asset)
    return await render_page(request, deps, user, "connect_facebook.html", {"outcomes": outcomes})
