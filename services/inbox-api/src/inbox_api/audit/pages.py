"""The owner's audit page (owner only: ``auth/roles``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from inbox_api.audit.service import AUDIT_GROUPS, list_audit
from inbox_api.auth.dependencies import Deps, PageUser
from inbox_api.web.pages import render_page

router = APIRouter(include_in_schema=False)


@router.get("/audit")
async def audit_page(
    request: Request, user: PageUser, deps: Deps, action: str = "", before: int | None = None
) -> HTMLResponse:
    action = action if action in dict(AUDIT_GROUPS) else ""
    async with deps.registry.session(user.tenant_id) as session:
        page = await list_audit(session, action=action or None, before_id=before, limit=100)
    context = {
        "entries": page["items"],
        "next_before": page["next_before"],
        "action": action,
        "groups": AUDIT_GROUPS,
    }
    return await render_page(request, deps, user, "audit.html", context)
