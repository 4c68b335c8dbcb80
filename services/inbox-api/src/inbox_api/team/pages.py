"""Settings → Team and sign-ins: the owner manages members; everyone sees and ends their own sessions
and changes their password."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.account import change_own_password, end_every_session
from inbox_api.auth.dependencies import Deps, PageUser
from inbox_api.auth.models import Principal
from inbox_api.auth.roles import Capability, may
from inbox_api.auth.sessions import COOKIE_NAME
from inbox_api.deps import InboxDeps
from inbox_api.display.present import stamp_of, zone_for
from inbox_api.display.service import restaurant_zone
from inbox_api.team import service
from inbox_api.team.models import ROLE_WORDS
from inbox_api.web.forms import FormUser, attempt, back_to
from inbox_api.web.pages import PageNotice, render_page

PAGE = "/settings/team"
router = APIRouter(include_in_schema=False)


def to_login(why: str) -> RedirectResponse:
    response = RedirectResponse(f"/login?signed_out={why}", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


@router.get(PAGE)
async def team_page(request: Request, user: PageUser, deps: Deps, notice: PageNotice) -> HTMLResponse:
    now = datetime.now(UTC)
    async with deps.registry.session(user.tenant_id) as session:
        zone = zone_for(await restaurant_zone(session), request)
        mine = await service.my_sessions(session, user, now)
        team = await service.members(session, now) if may(user, Capability.TEAM) else []
    context = {
        "mine": [
            s.model_dump() | {"since": stamp_of(s.signed_in_at, zone), "seen": stamp_of(s.last_seen_at, zone)}
            for s in mine
        ],
        "team": [m.model_dump() | {"last": stamp_of(m.last_login_at, zone)} for m in team],
        "roles": ROLE_WORDS,
        "owner": may(user, Capability.TEAM),
        "me": user.user_id,
    }
    return await render_page(request, deps, user, "team.html", context, notice)


Change = Callable[[AsyncSession], Awaitable[tuple[str, bool]]]


async def _team_change(deps: InboxDeps, user: Principal, change: Change, why: str) -> RedirectResponse:
    """One owner's change in one transaction; back to the page, or to the login page when the change
    ended the owner's own sessions (they changed their own role, access or sessions)."""
    ended_mine = False

    async def work() -> str:
        nonlocal ended_mine
        async with deps.registry.begin(user.tenant_id) as session:
            said, ended_mine = await change(session)
            return said

    outcome = await attempt(work, refused="Not changed: {}.")
    if outcome.error:
        return back_to(PAGE, err=outcome.error)
    return to_login(why) if ended_mine else back_to(PAGE, msg=outcome.done)


@router.post("/settings/team/{member_id}/role")
async def role_submit(
    member_id: uuid.UUID, user: FormUser, deps: Deps, role: Annotated[str, Form()] = ""
) -> RedirectResponse:
    async def change(session: AsyncSession) -> tuple[str, bool]:
        before = await service.role_of(session, member_id)
        member = await service.change_role(session, user, member_id, role)
        changed = before != role
        words = ROLE_WORDS[role].split(" (")[0].lower()
        said = f"{member.email} is now {words}" + ("; their sessions ended." if changed else ".")
        return said, changed and member.id == user.user_id

    return await _team_change(deps, user, change, "changed")


@router.post("/settings/team/{member_id}/active")
async def active_submit(
    member_id: uuid.UUID, user: FormUser, deps: Deps, active: Annotated[str, Form()] = ""
) -> RedirectResponse:
    keep = active == "yes"

    async def change(session: AsyncSession) -> tuple[str, bool]:
        member = await service.set_active(session, user, member_id, keep)
        if keep:
            return f"{member.email} can sign in again.", False
        return f"{member.email} can no longer sign in; their sessions ended.", member.id == user.user_id

    return await _team_change(deps, user, change, "changed")


@router.post("/settings/team/{member_id}/sign-out")
async def member_sign_out(member_id: uuid.UUID, user: FormUser, deps: Deps) -> RedirectResponse:
    async def change(session: AsyncSession) -> tuple[str, bool]:
        member, ended = await service.sign_out_member(session, user, member_id)
        return (
            f"{member.email} is signed out everywhere ({_sessions(ended)} ended).",
            member.id == user.user_id,
        )

    return await _team_change(deps, user, change, "everywhere")


@router.post("/settings/sign-out-everywhere")
async def sign_out_everywhere(user: FormUser, deps: Deps) -> RedirectResponse:
    await end_every_session(deps, user)
    return to_login("everywhere")


@router.post("/settings/password")
async def password_submit(
    user: FormUser,
    deps: Deps,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
) -> RedirectResponse:
    async def work() -> str:
        await change_own_password(deps, user, current_password, new_password)
        return "changed"

    outcome = await attempt(work, refused="Password not changed: {}.")
    if outcome.error:
        return back_to(PAGE, err=outcome.error)
    return to_login("password")


def _sessions(n: int) -> str:
    return "1 session" if n == 1 else f"{n} sessions"
