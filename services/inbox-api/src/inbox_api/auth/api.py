"""The JSON API's sign-in, sign-out and "who am I"."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from inbox_api.auth.account import change_own_password, end_every_session, end_session
from inbox_api.auth.dependencies import CurrentUser, Deps, client_ip, set_session_cookie
from inbox_api.auth.models import LoginIn, LoginOut, PasswordIn
from inbox_api.auth.profile import NameIn, set_display_name
from inbox_api.auth.service import authenticate
from inbox_api.auth.sessions import COOKIE_NAME
from omni_common.domain.people import person_name

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login", response_model=LoginOut, responses={401: {}, 403: {}, 429: {}})
async def login(body: LoginIn, request: Request, response: Response, deps: Deps) -> LoginOut:
    """Sign in with restaurant, email and password: a bearer token and an HttpOnly session cookie."""
    result = await authenticate(
        deps,
        tenant_slug=body.tenant,
        email=body.email,
        password=body.password,
        client_ip=client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
    )
    set_session_cookie(response, result.token, secure=deps.cookie_secure, max_age=deps.signer.ttl_s)
    return LoginOut(
        access_token=result.token,
        expires_in=deps.signer.ttl_s,
        csrf_token=deps.signer.csrf_token(result.principal.sid),
    )


@router.post("/logout", status_code=204)
async def logout(response: Response, user: CurrentUser, deps: Deps) -> Response:
    """Sign out: this session ends on the server (its token no longer works) and the cookie goes."""
    await end_session(deps, user)
    response.status_code = 204
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


@router.post("/sign-out-everywhere", status_code=204)
async def sign_out_everywhere(response: Response, user: CurrentUser, deps: Deps) -> Response:
    """End every session of the caller, this one included (a lost phone, a shared computer)."""
    await end_every_session(deps, user)
    response.status_code = 204
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


@router.put("/me/password", status_code=204)
async def change_password(body: PasswordIn, response: Response, user: CurrentUser, deps: Deps) -> Response:
    """A new password (the current one required): every session of the caller ends, this one too;
    sign in again with the new password."""
    await change_own_password(deps, user, body.current_password, body.new_password)
    response.status_code = 204
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


@router.get("/me")
async def me(user: CurrentUser, deps: Deps) -> dict[str, str | None]:
    """Who is signed in (and the CSRF token for cookie-authenticated writes)."""
    return {
        "tenant_id": str(user.tenant_id),
        "user_id": str(user.user_id),
        "email": user.email,
        "display_name": user.display_name,
        "name": person_name(user.display_name, user.email),  # what replies are signed with
        "role": user.role,
        "csrf_token": deps.signer.csrf_token(user.sid),
    }


@router.put("/me/name")
async def set_my_name(body: NameIn, user: CurrentUser, deps: Deps) -> dict[str, str]:
    """Set the name replies are signed with ("" goes back to the one made from the email)."""
    async with deps.registry.begin(user.tenant_id) as session:
        return {"display_name": await set_display_name(session, user, body.display_name)}
