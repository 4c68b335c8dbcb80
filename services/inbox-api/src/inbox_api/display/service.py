"""The restaurant's time zone for the inbox (one row of ``inbox_display``; none: the browser's)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.models import Principal
from inbox_api.display.dates import zone_named
from inbox_api.errors import Invalid
from omni_common.db.tenant_models import InboxDisplay
from omni_common.tenancy.audit import record


async def restaurant_zone(session: AsyncSession) -> str | None:
    """The time zone the owner chose (an IANA name), or None: each browser shows its own."""
    return await session.scalar(select(InboxDisplay.time_zone).where(InboxDisplay.id == 1))


async def set_restaurant_zone(session: AsyncSession, user: Principal, name: str) -> str | None:
    """Save the zone ("" for the browser's); refused with a plain reason for an unknown name."""
    name = name.strip()
    if name and zone_named(name) is None:
        raise Invalid(f"“{name[:64]}” is not a time zone we know; choose one from the list")
    chosen = name or None
    before = await restaurant_zone(session)
    stmt = insert(InboxDisplay).values(id=1, time_zone=chosen, updated_by=user.user_id)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[InboxDisplay.id], set_={"time_zone": chosen, "updated_by": user.user_id}
        )
    )
    if before != chosen:
        await record(
            session, user.actor(), "display.time_zone_changed", details={"from": before, "to": chosen}
        )
    return chosen
