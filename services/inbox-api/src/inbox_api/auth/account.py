"""The caller's own sign-ins: log out, sign out everywhere, change the password."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.models import Principal
from inbox_api.deps import InboxDeps
from inbox_api.errors import Invalid, NotFound
from omni_common.db.tenant_models import User
from omni_common.tenancy import sessions
from omni_common.tenancy.users import verify_password


class WrongPassword(Invalid):
    """The current password given with a change is not the user's."""


async def end_session(deps: InboxDeps, user: Principal) -> None:
    async with deps.registry.begin(user.tenant_id) as db:
        await sessions.end(db, user.sid)


async def end_every_session(deps: InboxDeps, user: Principal) -> int:
    async with deps.registry.begin(user.tenant_id) as db:
        me = await _me(db, user)
        return await sessions.sign_out_everywhere(db, user.actor(), me)


async def change_own_password(deps: InboxDeps, user: Principal, current: str, new: str) -> int:
    """Check the current password, set the new one: every session of the user ends (this one too)."""
    async with deps.registry.begin(user.tenant_id) as db:
        me = await _me(db, user, lock=True)
        ok = await asyncio.to_thread(verify_password, me.password_hash, current, deps.hasher)
        if not ok:
            raise WrongPassword("the current password is not right")
        return await sessions.set_password(db, user.actor(), me, new, deps.hasher)


async def _me(db: AsyncSession, user: Principal, *, lock: bool = False) -> User:
    query = select(User).where(User.id == user.user_id)
    found = await db.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound("no such user")
    return found
