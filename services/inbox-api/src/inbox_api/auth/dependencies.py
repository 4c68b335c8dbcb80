"""FastAPI dependencies: the app's collaborators and the caller, for JSON routes and for pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import structlog
from fastapi import Depends, HTTPException, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth import roles
from inbox_api.auth.client_ip import client_address
from inbox_api.auth.models import Principal
from inbox_api.auth.service import AuthProblem, principal_of
from inbox_api.auth.sessions import COOKIE_NAME, CSRF_HEADER
from inbox_api.deps import InboxDeps

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
log = structlog.get_logger(__name__)


class NotSignedIn(Exception):
    """Raised by page dependencies; turned into a redirect to the login page."""


def get_deps(request: Request) -> InboxDeps:
    deps: InboxDeps = request.app.state.deps
    return deps


Deps = Annotated[InboxDeps, Depends(get_deps)]


async def resolve_principal(request: Request, deps: InboxDeps) -> Principal:
    """The principal of a request (bearer token first, then the session cookie); AuthProblem if none."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return await principal_of(deps, header[7:].strip(), via_cookie=False)
    return await principal_of(deps, request.cookies.get(COOKIE_NAME, ""), via_cookie=True)


def role_refusal(request: Request, user: Principal) -> str | None:
    """Why the caller's role may not use this route (``auth/roles``: the route's capability); None
    when it may. A route without a decision is refused to everyone."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    capability = roles.decision(request.method, path) if isinstance(path, str) else None
    why = roles.refusal(user, capability)
    if capability is None:  # a bug to fix: auth/roles.py needs a line for this route
        log.error("route_without_role_decision", method=request.method, path=path)
    elif why is not None:
        log.info("route_refused_role", path=path, role=user.role, capability=capability)
    return why


async def api_principal(request: Request, deps: Deps) -> Principal:
    """The caller of a JSON route; cookie-authenticated writes need the CSRF header; the caller's
    role must hold the route's capability (``auth/roles``)."""
    try:
        principal = await resolve_principal(request, deps)
    except AuthProblem as exc:
        raise HTTPException(exc.status, exc.detail) from exc
    cookie_write = principal.via_cookie and request.method in UNSAFE_METHODS
    if cookie_write and not deps.signer.check_csrf(principal.sid, request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, "missing or wrong CSRF token")
    structlog.contextvars.bind_contextvars(tenant_id=str(principal.tenant_id))
    why = role_refusal(request, principal)
    if why is not None:
        raise HTTPException(403, why)
    return principal


async def page_user(request: Request, deps: Deps) -> Principal:
    """The caller of a page or form: not signed in sends them to the login page; a refused role, or
    a role without the route's capability, sees why (a readable page, 403)."""
    try:
        principal = await resolve_principal(request, deps)
    except AuthProblem as exc:
        if exc.status == 403:
            raise
        raise NotSignedIn from exc
    why = role_refusal(request, principal)
    if why is not None:
        raise AuthProblem(403, why[:1].upper() + why[1:] + ".")
    return principal


CurrentUser = Annotated[Principal, Depends(api_principal)]
PageUser = Annotated[Principal, Depends(page_user)]


async def tenant_session(user: CurrentUser, deps: Deps) -> AsyncIterator[AsyncSession]:
    """A session on the caller's tenant database, for a JSON route that only reads."""
    async with deps.registry.session(user.tenant_id) as session:
        yield session


async def tenant_transaction(user: CurrentUser, deps: Deps) -> AsyncIterator[AsyncSession]:
    """The caller's tenant database in one transaction: committed when the route returns, before
    the answer leaves (scope "function"), rolled back when it raises."""
    async with deps.registry.begin(user.tenant_id) as session:
        yield session


TenantSession = Annotated[AsyncSession, Depends(tenant_session, scope="function")]
TenantTransaction = Annotated[AsyncSession, Depends(tenant_transaction, scope="function")]


def set_session_cookie(response: Response, token: str, *, secure: bool, max_age: int) -> None:
    """HttpOnly (no script reads it), SameSite=Lax (not sent on cross-site posts)."""
    response.set_cookie(
        COOKIE_NAME, token, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/"
    )


def client_ip(request: Request) -> str:
    """The caller's address: the peer, or what our own proxies say in X-Forwarded-For."""
    deps: InboxDeps = request.app.state.deps
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.get("x-forwarded-for"), deps.trusted_proxies)
