"""``omni user set-password | set-role | deactivate | reactivate | sign-out``: the operator's side of
the changes that end a user's sessions (the same rules as the inbox's Team page, audited as ``cli``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import typer

from omni_cli.commands.tenancy import in_tenant, user_app

if TYPE_CHECKING:  # imported when run, not for `omni --help`
    from sqlalchemy.ext.asyncio import AsyncSession

    from omni_common.db.tenant_models import User

Change = Callable[["AsyncSession", "User"], Awaitable[str]]


def _apply(slug: str, email: str, change: Change) -> None:
    """Run one change on the user ``email`` of tenant ``slug`` in one transaction; print its outcome."""
    from omni_common.errors import TenantNotFound
    from omni_common.tenancy.users import get_user_by_email

    async def work(session: AsyncSession) -> str:
        user = await get_user_by_email(session, email)
        if user is None:
            raise TenantNotFound(f"no user {email!r} in {slug}")
        return await change(session, user)

    in_tenant(slug, work)


def _ended(n: int) -> str:
    return f"{n} session{'s' if n != 1 else ''} ended"


@user_app.command("set-password")
def set_password(
    slug: str = typer.Argument(...),
    email: str = typer.Option(..., "--email"),
    password: str = typer.Option(..., "--password", prompt=True, hide_input=True),
) -> None:
    """Give a user a new password; every session of the user ends."""
    from omni_common.tenancy import sessions
    from omni_common.tenancy.audit import Actor

    async def change(db: AsyncSession, user: User) -> str:
        ended = await sessions.set_password(db, Actor.system("cli"), user, password)
        return f"password of {email} changed; {_ended(ended)}"

    _apply(slug, email, change)


@user_app.command("set-role")
def set_role(
    slug: str = typer.Argument(...),
    email: str = typer.Option(..., "--email"),
    role: str = typer.Option(
        ..., "--role", help="business_owner|manager|staff|investor|customer|super_admin"
    ),
) -> None:
    """Change a user's role; every session of the user ends (never the last active owner)."""
    from omni_common.tenancy import sessions
    from omni_common.tenancy.audit import Actor

    async def change(db: AsyncSession, user: User) -> str:
        ended = await sessions.set_role(db, Actor.system("cli"), user, role)
        return f"{email} is now {role}; {_ended(ended)}"

    _apply(slug, email, change)


@user_app.command("deactivate")
def deactivate(slug: str = typer.Argument(...), email: str = typer.Option(..., "--email")) -> None:
    """Turn off a user's access; every session of the user ends (never the last active owner)."""
    from omni_common.tenancy import sessions
    from omni_common.tenancy.audit import Actor

    async def change(db: AsyncSession, user: User) -> str:
        ended = await sessions.set_active(db, Actor.system("cli"), user, False)
        return f"{email} can no longer sign in; {_ended(ended)}"

    _apply(slug, email, change)


@user_app.command("reactivate")
def reactivate(slug: str = typer.Argument(...), email: str = typer.Option(..., "--email")) -> None:
    """Turn a user's access back on."""
    from omni_common.tenancy import sessions
    from omni_common.tenancy.audit import Actor

    async def change(db: AsyncSession, user: User) -> str:
        await sessions.set_active(db, Actor.system("cli"), user, True)
        return f"{email} can sign in again"

    _apply(slug, email, change)


@user_app.command("sign-out")
def sign_out(slug: str = typer.Argument(...), email: str = typer.Option(..., "--email")) -> None:
    """End every session of a user (a lost phone, someone who left)."""
    from omni_common.tenancy import sessions
    from omni_common.tenancy.audit import Actor

    async def change(db: AsyncSession, user: User) -> str:
        ended = await sessions.sign_out_everywhere(db, Actor.system("cli"), user)
        return f"{email} signed out everywhere; {_ended(ended)}"

    _apply(slug, email, change)


def register(_app: typer.Typer) -> None:
    """The commands attach to ``omni user`` (tenancy's ``user_app``) when this module is imported."""
