"""Login, logout and the caller's principal: who is calling, for which tenant, with which role."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import structlog
from argon2 import PasswordHasher
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import update

from inbox_api.deps import InboxDeps
from inbox_api.sessions import COOKIE_NAME, CSRF_HEADER, InvalidToken
from omni_common.db.tenant_models import INBOX_ROLES, User
from omni_common.errors import OmniError, TenantError
from omni_common.tenancy.users import get_user_by_email, verify_password

log = structlog.get_logger(__name__)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginFailed(OmniError):
    """Wrong tenant, email or password (deliberately not saying which)."""


class RoleRefused(OmniError):
    """The user exists but their role may not use the inbox."""


class TooManyAttempts(OmniError):
    """Too many login attempts for this tenant, email and address."""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller; the tenant comes from the verified token, never from the request."""

    tenant_id: uuid.UUID
    user_id: uuid.UUID
    role: str
    email: str
    display_name: str | None
    sid: str
    via_cookie: bool


@dataclass(frozen=True)
class LoginResult:
    token: str
    principal: Principal


_dummy_hashes: dict[int, str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    # Unknown tenants and emails still pay for one argon2 verification, so timing reveals nothing.
    key = id(hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = hasher.hash("not-a-real-password")
    return _dummy_hashes[key]


async def authenticate(
    deps: InboxDeps, *, tenant_slug: str, email: str, password: str, client_ip: str
) -> LoginResult:
    """Check credentials and role; a token for owners and managers, typed errors otherwise."""
    limiter_key = f"{tenant_slug.strip().lower()}|{email.strip().lower()}|{client_ip}"
    if not deps.login_limiter.hit(limiter_key):
        log.warning("login_rate_limited", tenant=tenant_slug)
        raise TooManyAttempts("too many login attempts; wait a few minutes and try again")
    tenant = await deps.catalog.get_tenant_by_slug(tenant_slug.strip().lower())
    user: User | None = None
    if tenant is not None and tenant.status == "active":
        try:
            async with deps.registry.session(tenant.id) as session:
                user = await get_user_by_email(session, email)
        except ValueError:  # not an email address
            user = None
    password_hash = user.password_hash if user is not None else _dummy_hash(deps.hasher)
    ok = await asyncio.to_thread(verify_password, password_hash, password, deps.hasher)
    if tenant is None or user is None or not ok or not user.is_active:
        log.info("login_failed", tenant=tenant_slug)
        raise LoginFailed("wrong restaurant, email or password")
    if user.role not in INBOX_ROLES:
        log.info("login_refused_role", tenant_id=str(tenant.id), role=user.role)
        raise RoleRefused("only owners and managers can use the inbox")
    deps.login_limiter.reset(limiter_key)
    async with deps.registry.begin(tenant.id) as session:
        await session.execute(update(User).where(User.id == user.id).values(last_login_at=datetime.now(UTC)))
    token = deps.signer.issue(tenant_id=tenant.id, user_id=user.id, role=user.role)
    claims = deps.signer.verify(token)
    log.info("login_succeeded", tenant_id=str(tenant.id), user_id=str(user.id))
    return LoginResult(
        token,
        Principal(tenant.id, user.id, user.role, user.email, user.display_name, claims.sid, via_cookie=False),
    )


class AuthProblem(OmniError):
    """Not authenticated (401) or not allowed (403)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def get_deps(request: Request) -> InboxDeps:
    return request.app.state.deps  # type: ignore[no-any-return]


async def resolve_principal(request: Request, deps: InboxDeps) -> Principal:
    """The principal of a request (bearer token first, then the session cookie); AuthProblem if none."""
    header = request.headers.get("authorization", "")
    via_cookie = False
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    else:
        token = request.cookies.get(COOKIE_NAME, "")
        via_cookie = True
    if not token:
        raise AuthProblem(401, "not signed in")
    try:
        claims = deps.signer.verify(token)
    except InvalidToken as exc:
        raise AuthProblem(401, "session expired or invalid; sign in again") from exc
    try:
        async with deps.registry.session(claims.tenant_id) as session:
            user = await session.get(User, claims.user_id)
    except TenantError as exc:
        raise AuthProblem(401, "session expired or invalid; sign in again") from exc
    if user is None or not user.is_active:
        raise AuthProblem(401, "session expired or invalid; sign in again")
    if user.role not in INBOX_ROLES:
        raise AuthProblem(403, "only owners and managers can use the inbox")
    return Principal(
        claims.tenant_id, user.id, user.role, user.email, user.display_name, claims.sid, via_cookie
    )


async def api_principal(request: Request, deps: Annotated[InboxDeps, Depends(get_deps)]) -> Principal:
    """FastAPI dependency of every /api route; cookie-authenticated writes need the CSRF header."""
    try:
        principal = await resolve_principal(request, deps)
    except AuthProblem as exc:
        raise HTTPException(exc.status, exc.detail) from exc
    cookie_write = principal.via_cookie and request.method in UNSAFE_METHODS
    if cookie_write and not deps.signer.check_csrf(principal.sid, request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, "missing or wrong CSRF token")
    structlog.contextvars.bind_contextvars(tenant_id=str(principal.tenant_id))
    return principal


CurrentUser = Annotated[Principal, Depends(api_principal)]
Deps = Annotated[InboxDeps, Depends(get_deps)]


def set_session_cookie(response: Response, token: str, *, secure: bool, max_age: int) -> None:
    """HttpOnly (no script reads it), SameSite=Lax (not sent on cross-site posts)."""
    response.set_cookie(
        COOKIE_NAME, token, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/"
    )


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class LoginIn(BaseModel):
    tenant: str = Field(min_length=1, max_length=64)
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int
    csrf_token: str


router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login", response_model=LoginOut, responses={401: {}, 403: {}, 429: {}})
async def login(body: LoginIn, request: Request, response: Response, deps: Deps) -> LoginOut:
    """Sign in with restaurant, email and password: a bearer token and an HttpOnly session cookie."""
    try:
        result = await authenticate(
            deps,
            tenant_slug=body.tenant,
            email=body.email,
            password=body.password,
            client_ip=client_ip(request),
        )
    except TooManyAttempts as exc:
        raise HTTPException(429, str(exc)) from exc
    except LoginFailed as exc:
        raise HTTPException(401, str(exc)) from exc
    except RoleRefused as exc:
        raise HTTPException(403, str(exc)) from exc
    set_session_cookie(response, result.token, secure=deps.cookie_secure, max_age=deps.signer.ttl_s)
    return LoginOut(
        access_token=result.token,
        expires_in=deps.signer.ttl_s,
        csrf_token=deps.signer.csrf_token(result.principal.sid),
    )


@router.post("/logout", status_code=204)
async def logout(response: Response, _user: CurrentUser) -> Response:
    """Sign out: the session cookie is cleared."""
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
        "role": user.role,
        "csrf_token": deps.signer.csrf_token(user.sid),
    }
