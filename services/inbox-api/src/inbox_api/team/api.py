"""The team's JSON API: members (owner only) and the caller's own open sessions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Response

from inbox_api.auth.dependencies import CurrentUser, TenantSession, TenantTransaction
from inbox_api.team import service
from inbox_api.team.models import MemberOut, RoleIn, SessionOut

router = APIRouter(prefix="/api", tags=["team"])


@router.get("/team/members", response_model=list[MemberOut], responses={403: {}})
async def list_members(session: TenantSession) -> list[MemberOut]:
    """Everyone of the restaurant with role, state and open sessions (owner only: ``auth/roles``)."""
    return await service.members(session, datetime.now(UTC))


@router.put("/team/members/{member_id}/role", status_code=204, responses={403: {}, 404: {}, 409: {}, 422: {}})
async def set_role(
    member_id: uuid.UUID, body: RoleIn, user: CurrentUser, session: TenantTransaction
) -> Response:
    """A new role for a member: their sessions end (owner only; never the last active owner)."""
    await service.change_role(session, user, member_id, body.role)
    return Response(status_code=204)


@router.post("/team/members/{member_id}/deactivate", status_code=204, responses={403: {}, 404: {}, 409: {}})
async def deactivate(member_id: uuid.UUID, user: CurrentUser, session: TenantTransaction) -> Response:
    """The member can no longer sign in; their sessions end (owner only)."""
    await service.set_active(session, user, member_id, False)
    return Response(status_code=204)


@router.post("/team/members/{member_id}/reactivate", status_code=204, responses={403: {}, 404: {}})
async def reactivate(member_id: uuid.UUID, user: CurrentUser, session: TenantTransaction) -> Response:
    await service.set_active(session, user, member_id, True)
    return Response(status_code=204)


@router.post("/team/members/{member_id}/sign-out", status_code=204, responses={403: {}, 404: {}})
async def sign_out(member_id: uuid.UUID, user: CurrentUser, session: TenantTransaction) -> Response:
    """End every session of a member (a lost phone, someone who left), owner only."""
    await service.sign_out_member(session, user, member_id)
    return Response(status_code=204)


@router.get("/auth/sessions", response_model=list[SessionOut])
async def my_sessions(user: CurrentUser, session: TenantSession) -> list[SessionOut]:
    """The caller's own open sessions (device, signed in, last active)."""
    return await service.my_sessions(session, user, datetime.now(UTC))
