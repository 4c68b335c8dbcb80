"""The login page, signing in and out from the browser, and the site's root."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.account import end_session
from inbox_api.auth.dependencies import Deps, client_ip, set_session_cookie
from inbox_api.auth.profile import NameIn, set_display_name
from inbox_api.auth.service import LoginFailed, RoleRefused, TooManyAttempts, authenticate
from inbox_api.auth.sessions import COOKIE_NAME
from inbox_api.errors import answer
from inbox_api.web.forms import FormUser, save
from inbox_api.web.templates import render

LOGIN_CSRF_COOKIE = "omni_login_csrf"
# What the login page says after a change that signed the person out (fixed words, not from the URL).
SIGNED_OUT_WORDS = {
    "password": "Your password is changed and every session ended. Sign in with the new password.",
    "everywhere": "You are signed out on every device.",
    "changed": "Your access changed; sign in again.",
}
NAME_HINTS = {"display_name": "your name takes 80 characters at most"}
router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/inbox", status_code=303)


@router.get("/login")
async def login_page(
    request: Request, deps: Deps, error: str | None = None, signed_out: str = ""
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    said = SIGNED_OUT_WORDS.get(signed_out)
    response = render(request, "login.html", {"csrf": token, "error": error, "said": said, "form": {}})
    # Double-submit token: a cross-site form cannot read this cookie to echo it in the form.
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", max_age=3600, secure=deps.cookie_secure
    )
    return response


@router.post("/login")
async def login_submit(
    request: Request,
    deps: Deps,
    tenant: Annotated[str, Form()],
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Sign in from the login form (no session yet: its CSRF token is the double-submit cookie's)."""
    form = {"tenant": tenant, "email": email}
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        context = {"csrf": expected, "error": "The form expired; try again.", "form": form}
        return render(request, "login.html", context, 403)
    try:
        result = await authenticate(
            deps,
            tenant_slug=tenant,
            email=email,
            password=password,
            client_ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
        )
    except (LoginFailed, RoleRefused, TooManyAttempts) as exc:
        refused = answer(exc)
        status = refused.status if refused else 401
        return render(request, "login.html", {"csrf": expected, "error": str(exc), "form": form}, status)
    response = RedirectResponse("/inbox", status_code=303)
    set_session_cookie(response, result.token, secure=deps.cookie_secure, max_age=deps.signer.ttl_s)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout_submit(user: FormUser, deps: Deps) -> RedirectResponse:
    await end_session(deps, user)  # the token stops working everywhere, not only in this browser
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


@router.post("/settings/me")
async def my_name_submit(
    user: FormUser, deps: Deps, display_name: Annotated[str, Form()] = ""
) -> RedirectResponse:
    async def change(session: AsyncSession) -> str:
        name = await set_display_name(session, user, NameIn(display_name=display_name).display_name)
        return f"Your replies are now signed “{name}”."

    return await save(deps, user, "/settings", change, hints=NAME_HINTS)
