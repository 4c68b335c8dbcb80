"""The installable app's files (service worker, manifest) and the alerts part of Settings → inbox."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.dependencies import Deps, PageUser
from inbox_api.auth.roles import Capability, may
from inbox_api.push import service
from inbox_api.push.models import SignalsIn
from inbox_api.web.forms import FormUser, save
from inbox_api.web.templates import render

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent.parent / "static"
BACK = "/settings/inbox"


@router.get("/sw.js")
async def service_worker() -> FileResponse:
    """The service worker, served from the root so its scope covers every page of the inbox."""
    return FileResponse(
        STATIC / "sw.js",
        media_type="text/javascript",
        # Checked on every visit: a stale worker would keep old alert code on phones for a day.
        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"},
    )


@router.get("/manifest.webmanifest")
async def manifest() -> FileResponse:
    """What a phone needs to put the inbox on its home screen."""
    return FileResponse(STATIC / "manifest.webmanifest", media_type="application/manifest+json")


@router.get("/ui/settings/signals")
async def signals_fragment(request: Request, user: PageUser, deps: Deps) -> HTMLResponse:
    """The switches of read receipts and "typing…" (loaded into Settings → inbox)."""
    async with deps.registry.session(user.tenant_id) as session:
        current = await service.signals(session)
    owner = may(user, Capability.RESTAURANT_SETTINGS)
    context = {"signals": current, "owner": owner, "csrf": deps.signer.csrf_token(user.sid)}
    return render(request, "_signals.html", context)


@router.post("/settings/inbox/signals")
async def signals_submit(
    user: FormUser,
    deps: Deps,
    read_receipts: Annotated[str | None, Form()] = None,
    typing_indicator: Annotated[str | None, Form()] = None,
) -> RedirectResponse:
    """Save the switches (a checkbox left unticked is not posted: off); owners only (``auth/roles``)."""

    async def change(session: AsyncSession) -> str:
        body = SignalsIn(
            read_receipts=read_receipts is not None, typing_indicator=typing_indicator is not None
        )
        await service.save_signals(session, body)
        return "Saved what customers see."

    return await save(deps, user, BACK, change)
