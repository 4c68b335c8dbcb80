"""Team changes by the owner: roles, deactivation and "sign out everywhere" for any member.

Each ends the member's sessions at once (``omni_common.tenancy.sessions``): a demoted manager or a
deactivated member is out on their next request, on every replica.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.models import Principal
from inbox_api.auth.roles import Capability, refusal
from inbox_api.errors import Forbidden, Invalid, NotFound
from inbox_api.team.models import ROLE_WORDS, MemberOut, SessionOut
from omni_common.db.tenant_models import User, UserSession
from omni_common.domain.people import person_name
from omni_common.tenancy import sessions

OWNER = sessions.OWNER


def owner_only(user: Principal) -> None:
    """The routes are gated already (``auth/roles``); the changes check again, being what they are."""
    why = refusal(user, Capability.TEAM)
    if why is not None:
        raise Forbidden(why)


async def members(db: AsyncSession, now: datetime) -> list[MemberOut]:
    """Everyone of the restaurant, owners first, with how many sessions each has open."""
    open_count = (
        select(UserSession.user_id, func.count().label("n"))
        .where(UserSession.ended_at.is_(None), UserSession.expires_at > now)
        .group_by(UserSession.user_id)
        .subquery()
    )
    rows = await db.execute(
        select(User, func.coalesce(open_count.c.n, 0))
        .outerjoin(open_count, open_count.c.user_id == User.id)
        .order_by((User.role != OWNER), User.email)
    )
    return [
        MemberOut(
            id=u.id,
            name=person_name(u.display_name, u.email),
            email=u.email,
            role=u.role,
            role_words=ROLE_WORDS.get(u.role, u.role),
            active=u.is_active,
            last_login_at=u.last_login_at,
            open_sessions=int(n),
        )
        for u, n in rows.all()
    ]


async def my_sessions(db: AsyncSession, user: Principal, now: datetime) -> list[SessionOut]:
    return [
        SessionOut(
            device=s.device or "Another app",
            signed_in_at=s.created_at,
            last_seen_at=s.last_seen_at,
            expires_at=s.expires_at,
            this_one=s.id == user.sid,
        )
        for s in await sessions.open_sessions(db, user.user_id, now)
    ]


async def _member(db: AsyncSession, member_id: uuid.UUID) -> User:
    found = await db.scalar(select(User).where(User.id == member_id).with_for_update())
    if found is None:
        raise NotFound("no such team member")
    return found


async def role_of(db: AsyncSession, member_id: uuid.UUID) -> str | None:
    return await db.scalar(select(User.role).where(User.id == member_id))


async def _lock_owners(db: AsyncSession) -> None:
    # Two owners demoting each other at once must not both succeed: owners' rows are locked first.
    await db.execute(select(User.id).where(User.role == OWNER).with_for_update())


async def change_role(db: AsyncSession, user: Principal, member_id: uuid.UUID, role: str) -> User:
    owner_only(user)
    if role not in ROLE_WORDS:
        raise Invalid(f"choose a role from the list ({', '.join(ROLE_WORDS.values())})")
    await _lock_owners(db)
    member = await _member(db, member_id)
    await sessions.set_role(db, user.actor(), member, role)
    return member


async def set_active(db: AsyncSession, user: Principal, member_id: uuid.UUID, active: bool) -> User:
    owner_only(user)
    await _lock_owners(db)
    member = await _member(db, member_id)
    await sessions.set_active(db, user.actor(), member, active)
    return member


async def sign_out_member(db: AsyncSession, user: Principal, member_id: uuid.UUID) -> tuple[User, int]:
    owner_only(user)
    member = await _member(db, member_id)
    return member, await sessions.sign_out_everywhere(db, user.actor(), member)
