"""Signing in and recognising the caller: credentials, roles, and the principal of a request."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import structlog
from argon2 import PasswordHasher
from sqlalchemy import update

from inbox_api.auth.devices import device_of
from inbox_api.auth.models import LoginResult, Principal
from inbox_api.auth.sessions import InvalidToken
from inbox_api.deps import InboxDeps
from inbox_api.errors import Forbidden, TooManyRequests, Unauthorized
from omni_common.db.tenant_models import INBOX_ROLES, User
from omni_common.db.trouble import DATABASE_TROUBLE
from omni_common.errors import OmniError, TenantError
from omni_common.tenancy import sessions
from omni_common.tenancy.audit import Actor, record
from omni_common.tenancy.users import get_user_by_email, verify_password

log = structlog.get_logger(__name__)
SEEN_EVERY = timedelta(minutes=1)


class LoginFailed(Unauthorized):
    """Wrong tenant, email or password (deliberately not saying which)."""


class RoleRefused(Forbidden):
    """The user exists but their role may not use the inbox."""


class TooManyAttempts(TooManyRequests):
    """Too many failed sign-ins for this account and address, or from this address; or no slot to
    check the password in time. ``retry_after_s``: when to try again (the answer's Retry-After)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AuthProblem(OmniError):
    """A request without a valid session (401) or from a role that may not use the inbox (403)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


_dummy_hashes: dict[int, str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    # Unknown tenants and emails still pay for one argon2 verification, so timing reveals nothing.
    key = id(hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = hasher.hash("not-a-real-password")
    return _dummy_hashes[key]


async def authenticate(
    deps: InboxDeps,
    *,
    tenant_slug: str,
    email: str,
    password: str,
    client_ip: str,
    user_agent: str = "",
) -> LoginResult:
    """Check credentials and role; a token for owners and managers, typed errors otherwise.

    The throttle (``auth/throttle.py``) is asked first and told every failure; a failure against a
    restaurant that exists is written to its audit trail, so the owner sees who tried.
    """
    slug = tenant_slug.strip().lower()
    verdict = await deps.login_throttle.check(slug, email, client_ip)
    if not verdict.allowed:
        log.warning("login_throttled", tenant=slug)
        raise TooManyAttempts(
            "too many failed sign-ins; wait a few minutes and try again", verdict.retry_after_s
        )
    tenant = await deps.catalog.get_tenant_by_slug(slug)
    user: User | None = None
    if tenant is not None and tenant.status == "active":
        try:
            async with deps.registry.session(tenant.id) as session:
                user = await get_user_by_email(session, email)
        except ValueError:  # not an email address
            user = None
    password_hash = user.password_hash if user is not None else _dummy_hash(deps.hasher)
    checked = await deps.login_throttle.hashing(
        lambda: asyncio.to_thread(verify_password, password_hash, password, deps.hasher)
    )
    if checked is None:
        log.warning("login_busy", tenant=slug)
        raise TooManyAttempts("many people are signing in right now; try again in a few seconds", 5)
    if tenant is None or user is None or not checked or not user.is_active:
        log.info("login_failed", tenant=slug)
        await deps.login_throttle.failed(slug, email, client_ip)
        if tenant is not None and tenant.status == "active":
            await _audit_failure(deps, tenant.id, email, client_ip, user, checked)
        raise LoginFailed("wrong restaurant, email or password")
    if user.role not in INBOX_ROLES:
        log.info("login_refused_role", tenant_id=str(tenant.id), role=user.role)
        raise RoleRefused("only owners and managers can use the inbox")
    await deps.login_throttle.succeeded(slug, email, client_ip)
    token = deps.signer.issue(tenant_id=tenant.id, user_id=user.id, role=user.role)
    claims = deps.signer.verify(token)
    async with deps.registry.begin(tenant.id) as session:
        await session.execute(update(User).where(User.id == user.id).values(last_login_at=datetime.now(UTC)))
        expires = datetime.fromtimestamp(claims.expires_at, UTC)
        await sessions.start(session, user.id, claims.sid, expires, device_of(user_agent))
    log.info("login_succeeded", tenant_id=str(tenant.id), user_id=str(user.id))
    return LoginResult(
        token,
        Principal(tenant.id, user.id, user.role, user.email, user.display_name, claims.sid, via_cookie=False),
    )


async def _audit_failure(
    deps: InboxDeps, tenant_id: uuid.UUID, email: str, address: str, user: User | None, checked: bool
) -> None:
    """ "Failed sign-in" in the restaurant's audit trail: which email, from where, and why in words."""
    why = "no such team member" if user is None else ("access turned off" if checked else "wrong password")
    actor = Actor(
        user.id if user is not None else None, (user.email if user else email.strip().lower())[:320]
    )
    try:
        async with deps.registry.begin(tenant_id) as session:
            await record(
                session,
                actor,
                "user.sign_in_failed",
                target_type="user",
                target_id=user.id if user is not None else None,
                details={"email": email.strip().lower()[:320], "address": address, "why": why},
            )
    except DATABASE_TROUBLE:  # the refusal stands; the trail misses one line, the log has it
        log.warning("login_failure_not_audited", tenant_id=str(tenant_id))


async def principal_of(deps: InboxDeps, token: str, *, via_cookie: bool) -> Principal:
    """The principal a session token stands for, reloaded from the tenant database; AuthProblem if none."""
    if not token:
        raise AuthProblem(401, "not signed in")
    try:
        claims = deps.signer.verify(token)
    except InvalidToken as exc:
        raise AuthProblem(401, "session expired or invalid; sign in again") from exc
    now = datetime.now(UTC)
    try:
        async with deps.registry.session(claims.tenant_id) as session:
            found = await sessions.live(session, claims.sid, claims.user_id, now)
    except TenantError as exc:
        raise AuthProblem(401, "session expired or invalid; sign in again") from exc
    if found is None or not found.user.is_active:
        raise AuthProblem(401, "you were signed out; sign in again")
    user = found.user
    if found.last_seen_at is None or now - found.last_seen_at > SEEN_EVERY:
        # "Last active" for the list of sessions, written at most once a minute per session.
        async with deps.registry.begin(claims.tenant_id) as session:
            await sessions.touch(session, claims.sid, now)
    if user.role not in INBOX_ROLES:
        raise AuthProblem(403, "only owners and managers can use the inbox")
    return Principal(
        claims.tenant_id, user.id, user.role, user.email, user.display_name, claims.sid, via_cookie
    )


async def still_signed_in(deps: InboxDeps, user: Principal) -> bool:
    """Whether the caller's session still lets them in (the event stream asks while it runs).

    A database that cannot answer for a moment keeps the stream open: the next check decides.
    """
    try:
        async with deps.registry.session(user.tenant_id) as session:
            found = await sessions.live(session, user.sid, user.user_id, datetime.now(UTC))
    except DATABASE_TROUBLE:
        log.info("session_recheck_skipped", tenant_id=str(user.tenant_id))
        return True
    return found is not None and found.user.is_active and found.user.role in INBOX_ROLES
