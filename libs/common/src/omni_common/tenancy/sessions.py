"""Sign-in sessions and the changes to a user that end them: one home for the inbox and ``omni user``.

A session is a row of ``user_sessions`` named by the signed token's ``sid``. Logout ends one;
a password change, a role change, deactivation and "sign out everywhere" end every session of the
user at once, in the transaction that makes the change, so no request after the commit gets in
with an old token. Each change is audited in the same transaction.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omni_common.db.tenant_models import ROLES, User, UserSession
from omni_common.errors import OmniError
from omni_common.tenancy.audit import Actor, record
from omni_common.tenancy.users import hash_password

OWNER = "business_owner"
MIN_PASSWORD = 10  # long enough to resist guessing at our throttled rate; no composition rules

# Why a session ended (stored, and shown to the owner in the list of sessions).
SIGNED_OUT = "signed_out"
PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a reason, not a password
ROLE_CHANGED = "role_changed"
DEACTIVATED = "deactivated"
SIGNED_OUT_EVERYWHERE = "signed_out_everywhere"


class LastOwner(OmniError):
    """The change would leave the restaurant without an active owner."""


class WeakPassword(OmniError):
    """A new password too short to keep."""


@dataclass(frozen=True)
class LiveSession:
    """A session that may be used now, with its user as stored."""

    user: User
    expires_at: datetime
    last_seen_at: datetime | None


async def start(
    db: AsyncSession, user_id: uuid.UUID, sid: str, expires_at: datetime, device: str | None
) -> None:
    """Record a new session (at sign-in), in the caller's transaction."""
    db.add(UserSession(id=sid, user_id=user_id, expires_at=expires_at, device=device))
    await db.flush()


async def live(db: AsyncSession, sid: str, user_id: uuid.UUID, now: datetime) -> LiveSession | None:
    """The session and its user when the session exists, belongs to that user, has not ended and has
    not expired; None otherwise (one query)."""
    row = (
        await db.execute(
            select(User, UserSession.expires_at, UserSession.last_seen_at)
            .join(UserSession, UserSession.user_id == User.id)
            .where(
                UserSession.id == sid,
                UserSession.user_id == user_id,
                UserSession.ended_at.is_(None),
                UserSession.expires_at > now,
            )
        )
    ).first()
    if row is None:
        return None
    return LiveSession(row[0], row[1], row[2])


async def touch(db: AsyncSession, sid: str, now: datetime) -> None:
    await db.execute(update(UserSession).where(UserSession.id == sid).values(last_seen_at=now))


async def end(db: AsyncSession, sid: str, reason: str = SIGNED_OUT) -> None:
    """End one session (logout)."""
    await db.execute(
        update(UserSession)
        .where(UserSession.id == sid, UserSession.ended_at.is_(None))
        .values(ended_at=func.now(), ended_reason=reason)
    )


async def end_all(db: AsyncSession, user_id: uuid.UUID, reason: str) -> int:
    """End every live session of a user; how many ended."""
    result = await db.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .values(ended_at=func.now(), ended_reason=reason)
        .returning(UserSession.id)
    )
    return len(result.all())


async def open_sessions(db: AsyncSession, user_id: uuid.UUID, now: datetime) -> list[UserSession]:
    """A user's sessions that may still be used, newest first."""
    rows = await db.scalars(
        select(UserSession)
        .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None), UserSession.expires_at > now)
        .order_by(UserSession.created_at.desc())
    )
    return list(rows)


async def sign_out_everywhere(db: AsyncSession, actor: Actor, user: User) -> int:
    ended = await end_all(db, user.id, SIGNED_OUT_EVERYWHERE)
    await record(
        db,
        actor,
        "user.signed_out_everywhere",
        target_type="user",
        target_id=user.id,
        details={"email": user.email, "sessions": ended},
    )
    return ended


async def set_password(
    db: AsyncSession, actor: Actor, user: User, password: str, hasher: PasswordHasher | None = None
) -> int:
    """A new password; every session of the user ends. WeakPassword when too short."""
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"the password needs at least {MIN_PASSWORD} characters")
    user.password_hash = await asyncio.to_thread(hash_password, password, hasher)
    ended = await end_all(db, user.id, PASSWORD_CHANGED)
    await record(
        db,
        actor,
        "user.password_changed",
        target_type="user",
        target_id=user.id,
        details={"email": user.email, "sessions": ended},
    )
    return ended


async def _other_active_owners(db: AsyncSession, user: User) -> int:
    return int(
        await db.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == OWNER, User.is_active.is_(True), User.id != user.id)
        )
        or 0
    )


async def set_role(db: AsyncSession, actor: Actor, user: User, role: str) -> int:
    """A new role; every session of the user ends (their rights changed). LastOwner if it would
    leave no active owner; ValueError for an unknown role."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if role == user.role:
        return 0
    if user.role == OWNER and user.is_active and not await _other_active_owners(db, user):
        raise LastOwner("the restaurant needs at least one active owner")
    before, user.role = user.role, role
    ended = await end_all(db, user.id, ROLE_CHANGED)
    await record(
        db,
        actor,
        "user.role_changed",
        target_type="user",
        target_id=user.id,
        details={"email": user.email, "from": before, "to": role, "sessions": ended},
    )
    return ended


async def set_active(db: AsyncSession, actor: Actor, user: User, active: bool) -> int:
    """Deactivate (every session ends; LastOwner for the last active owner) or reactivate a user."""
    if active == user.is_active:
        return 0
    ended = 0
    if not active:
        if user.role == OWNER and not await _other_active_owners(db, user):
            raise LastOwner("the restaurant needs at least one active owner")
        ended = await end_all(db, user.id, DEACTIVATED)
    user.is_active = active
    await record(
        db,
        actor,
        "user.reactivated" if active else "user.deactivated",
        target_type="user",
        target_id=user.id,
        details={"email": user.email, "sessions": ended},
    )
    return ended


def utcnow() -> datetime:
    return datetime.now(UTC)
