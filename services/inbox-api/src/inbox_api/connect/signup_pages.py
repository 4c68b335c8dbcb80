"""HTML routes of WhatsApp Embedded Signup (issue 20), without Meta's JavaScript SDK.

Meta's SDK opens the dialog in a popup, hears its ``WA_EMBEDDED_SIGNUP`` window message (the WABA and
number picked) and hands the page the code. Our strict CSP cannot load the SDK, so the settings page
does the same itself (``static/connect_whatsapp.js``): it opens ``/connect/facebook/start`` in a popup,
keeps the message only when it comes from that popup *and* from the dialog's origin, and when the
popup lands back on our callback, the callback (``hand_back``) passes the code to the opener, which
posts code + session info here. Without a popup (blocked, scripts off) the callback posts the code
itself and the ids are found the documented way: ``debug_token``'s granted WABA, its numbers, and the
owner picks when there are several. Either way the ids are checked on the server (``signup.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from inbox_api.auth.dependencies import Deps
from inbox_api.auth.models import Principal
from inbox_api.connect.embedded import connect_number
from inbox_api.connect.gate import BAD_STATE, SETTINGS, owner_login
from inbox_api.connect.meta import LoginProblem, declined, discover, exchange_code, inspect
from inbox_api.connect.service import PERMISSION_WORDS
from inbox_api.connect.signup import SessionInfo, granted_waba, numbers_of, picked_number
from inbox_api.deps import InboxDeps
from inbox_api.web.forms import FormUser, back_to
from inbox_api.web.pages import render_page

CANCELLED = "You cancelled WhatsApp's sign-up; nothing was connected."
router = APIRouter(include_in_schema=False)


async def hand_back(
    request: Request, deps: InboxDeps, user: Principal, *, state: str, code: str, error: str
) -> HTMLResponse:
    """The callback of an Embedded Signup: a form carrying the code on to ``/embedded``."""
    context = {"state": state, "code": code, "error": error[:64]}
    return await render_page(request, deps, user, "connect_embedded.html", context)


async def _problem(request: Request, deps: InboxDeps, user: Principal, text: str) -> HTMLResponse:
    response = await render_page(request, deps, user, "connect_facebook.html", {"problem": text})
    response.status_code = 400
    return response


@router.post("/connect/facebook/embedded", response_model=None)
async def embedded_submit(
    request: Request,
    user: FormUser,
    deps: Deps,
    state: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
    error: Annotated[str, Form()] = "",
    event: Annotated[str, Form()] = "",
    waba_id: Annotated[str, Form()] = "",
    phone_number_id: Annotated[str, Form()] = "",
    error_message: Annotated[str, Form()] = "",
) -> HTMLResponse | RedirectResponse:
    login = owner_login(deps, user)
    pending = login.store.take(state, user.sid) if state else None
    if pending is None or pending.tenant_id != user.tenant_id or not pending.embedded:
        return await _problem(request, deps, user, BAD_STATE)
    info = SessionInfo(
        event.strip().upper()[:16], waba_id.strip()[:64], phone_number_id.strip()[:64], error_message
    )
    said = info.problem()
    if said is not None:
        return back_to(SETTINGS, err=said)
    if error or not code:
        return back_to(SETTINGS, err=CANCELLED)
    try:
        token = await exchange_code(login, code)
        granted = await inspect(login, token)
        missing = declined(("whatsapp",), granted).get("whatsapp")
        if missing:
            words = ", ".join(PERMISSION_WORDS.get(s, s) for s in missing)
            return back_to(
                SETTINGS, err=f"Not connected: you did not allow {words}. WhatsApp cannot work without it."
            )
        waba = granted_waba(info, granted)
        number = picked_number(info, await numbers_of(login, waba, token)) if waba else None
        if number is None:  # several to pick from and no message said which: the owner ticks
            assets = await discover(login, token, granted)
    except LoginProblem as exc:
        return back_to(SETTINGS, err=f"Not connected: {exc}")
    if number is None:
        kept = login.store.choices(
            user.sid,
            user.tenant_id,
            token,
            {"pages": [], "numbers": assets["numbers"]},
            granted.scopes,
            embedded=True,
            targets=granted.targets,
        )
        context = {
            "pick": login.store.keep(kept),
            "pages": [],
            "numbers": assets["numbers"],
            "with_messenger": False,
            "declined": [],
        }
        return await render_page(request, deps, user, "connect_facebook.html", context)
    outcome = await connect_number(deps, login, user, token, number, granted.targets)
    return await render_page(request, deps, user, "connect_facebook.html", {"outcomes": [outcome]})
