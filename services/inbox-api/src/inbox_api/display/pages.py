"""Settings → inbox: the restaurant's time zone form (a fragment the settings page loads)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.dependencies import Deps, PageUser
from inbox_api.auth.roles import Capability, may
from inbox_api.display.dates import clock, pick_zone
from inbox_api.display.service import restaurant_zone, set_restaurant_zone
from inbox_api.web.forms import FormUser, save
from inbox_api.web.templates import render

BACK = "/settings/inbox"
# Region/City names only (not the legacy aliases like "US/Eastern" or "Etc/GMT+5").
ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/", "US/")))
router = APIRouter(include_in_schema=False)


@router.get("/ui/settings/time-zone")
async def time_zone_fragment(request: Request, user: PageUser, deps: Deps) -> HTMLResponse:
    async with deps.registry.session(user.tenant_id) as session:
        chosen = await restaurant_zone(session)
    sample = clock(datetime.now(UTC), pick_zone(chosen, None))
    context: dict[str, object] = {"chosen": chosen or "", "zones": ZONES, "sample": sample}
    context["csrf"] = deps.signer.csrf_token(user.sid)
    context["owner"] = may(user, Capability.RESTAURANT_SETTINGS)  # managers see it, cannot change it
    return render(request, "_time_zone.html", context)


@router.post("/settings/time-zone")
async def time_zone_submit(
    user: FormUser, deps: Deps, time_zone: Annotated[str, Form()] = ""
) -> RedirectResponse:
    async def change(session: AsyncSession) -> str:
        chosen = await set_restaurant_zone(session, user, time_zone)
        if chosen is None:
            return "Times are shown in each browser's own time zone."
        return f"Times are shown in {chosen.replace('_', ' ')}."

    return await save(deps, user, BACK, change)
