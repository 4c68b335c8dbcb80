"""The settings page's health section (loaded by htmx)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from inbox_api.auth.dependencies import CurrentUser, Deps
from inbox_api.health.service import tenant_health
from inbox_api.web.templates import render

router = APIRouter(include_in_schema=False)


@router.get("/ui/channel-health")
async def channel_health_fragment(request: Request, user: CurrentUser, deps: Deps) -> HTMLResponse:
    """The health section, for the caller's tenant only (a JSON 401 without a session, as its API)."""
    async with deps.registry.session(user.tenant_id) as session:
        items = await tenant_health(session, datetime.now(UTC))
    return render(request, "_health.html", {"health": items})
