"""``GET /api/events``: the tenant's live events as server-sent events."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from inbox_api.auth.dependencies import CurrentUser, Deps
from inbox_api.auth.service import still_signed_in
from inbox_api.live.service import stream

router = APIRouter(tags=["events"])


@router.get("/api/events", response_class=StreamingResponse)
async def events(request: Request, user: CurrentUser, deps: Deps) -> StreamingResponse:
    """Server-sent events of this tenant: message.created, message.status, notification..."""
    last = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    return StreamingResponse(
        stream(
            deps.hub,
            user.tenant_id,
            last,
            heartbeat_s=deps.heartbeat_s,
            alive=lambda: still_signed_in(deps, user),
            recheck_s=deps.session_recheck_s,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
