"""The signed-in user's own name: what their replies are signed with and how teammates see them."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.models import Principal
from omni_common.db.tenant_models import User
from omni_common.domain.people import person_name
from omni_common.tenancy.audit import record


class NameIn(BaseModel):
    # Empty: go back to the name made from the email.
    display_name: str = Field(max_length=80)


async def set_display_name(session: AsyncSession, user: Principal, name: str) -> str:
    """Save the user's name (audited with the name before and after); returns the name now used."""
    clean = " ".join(name.split()) or None
    before = await session.get(User, user.user_id)
    previous = before.display_name if before else None
    if clean != previous:
        await session.execute(update(User).where(User.id == user.user_id).values(display_name=clean))
        details = {"previous": previous, "name": clean}
        await record(
            session, user.actor(), "user.renamed", target_type="user", target_id=user.user_id, details=details
        )
    return person_name(clean, user.email)
