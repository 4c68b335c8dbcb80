"""The one path of every HTML form post: the session's CSRF token checked (``FormUser``), the change
made (in one transaction for ``save``), a refusal put in words, then the answer: back to the page with
a message (``submit``/``save``) or the fragment re-rendered with the outcome's error (``attempt``).

Refusals are worded from the same mapping the JSON API uses (``inbox_api.errors``); a validation
error names the field it is about, through the page's hints.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.dependencies import Deps, PageUser
from inbox_api.auth.models import Principal
from inbox_api.auth.service import AuthProblem
from inbox_api.auth.sessions import CSRF_HEADER
from inbox_api.deps import InboxDeps
from inbox_api.errors import answer
from omni_common.errors import OmniError

Hints = Mapping[str, str]  # field name -> what that field takes, in plain words
NO_HINTS: Hints = {}


async def form_user(
    request: Request, user: PageUser, deps: Deps, csrf_token: Annotated[str, Form()] = ""
) -> Principal:
    """The caller of a form post; a cookie session must send its CSRF token (form field or header)."""
    token = request.headers.get(CSRF_HEADER) or csrf_token
    if user.via_cookie and not deps.signer.check_csrf(user.sid, token):
        raise AuthProblem(403, "the form expired; reload the page and try again")
    return user


FormUser = Annotated[Principal, Depends(form_user)]


class FormError(Exception):
    """A page's own refusal of what was posted, shown as written ("Choose a label from the list.")."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Outcome:
    """How a form post went: what was done, or why not (and the status the JSON API would give)."""

    done: str | None = None
    error: str | None = None
    status: int = 200


def field_hint(exc: ValidationError, hints: Hints) -> str:
    """What the first invalid field takes, from the page's hints."""
    err = exc.errors()[0]
    name = ".".join(str(p) for p in err.get("loc", ()))
    return hints.get(name, "check the fields")


async def attempt(
    work: Callable[[], Awaitable[str | None]], *, hints: Hints = NO_HINTS, refused: str = "{}"
) -> Outcome:
    """Run a form's change; a refusal becomes words (``refused`` frames a domain error's message).

    A missing conversation or message (404) is not caught: the page's alert fragment answers it; nor
    is a busy database (503 with Retry-After: nothing was written, the page tries again by itself).
    """
    try:
        done = await work()
    except ValidationError as exc:
        return Outcome(error=f"Not saved: {field_hint(exc, hints)}.", status=422)
    except FormError as exc:
        return Outcome(error=str(exc), status=exc.status)
    except OmniError as exc:
        found = answer(exc)
        if found is None or found.status in (404, 503):
            raise
        return Outcome(error=refused.format(found.detail), status=found.status)
    return Outcome(done=done)


def back_to(path: str, *, msg: str | None = None, err: str | None = None) -> RedirectResponse:
    """Back to a page (303), with what was done (``msg``) or why not (``err``) in its query."""
    query = urlencode({k: v for k, v in (("msg", msg), ("err", err)) if v})
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


async def submit(
    back: str, work: Callable[[], Awaitable[str]], *, hints: Hints = NO_HINTS
) -> RedirectResponse:
    """A settings form: run ``work`` (it says what it did) and go back to ``back`` with the outcome."""
    try:
        outcome = await attempt(work, hints=hints, refused="Not saved: {}.")
    except OmniError as exc:  # what the form names is gone ("No such label.")
        found = answer(exc)
        if found is None:
            raise
        outcome = Outcome(error=found.sentence(), status=found.status)
    return back_to(back, msg=outcome.done, err=outcome.error)


async def save(
    deps: InboxDeps,
    user: Principal,
    back: str,
    change: Callable[[AsyncSession], Awaitable[str]],
    *,
    hints: Hints = NO_HINTS,
) -> RedirectResponse:
    """A settings form whose change is one transaction of the tenant's database (all or nothing)."""

    async def work() -> str:
        async with deps.registry.begin(user.tenant_id) as session:
            return await change(session)

    return await submit(back, work, hints=hints)


async def save_or_delete(
    deps: InboxDeps,
    user: Principal,
    back: str,
    action: str,
    *,
    noun: str,
    update: Callable[[AsyncSession], Awaitable[object]],
    delete: Callable[[AsyncSession], Awaitable[None]],
    hints: Hints = NO_HINTS,
) -> RedirectResponse:
    """A settings row's form: its Save button, or its Delete button (``action`` "delete")."""

    async def change(session: AsyncSession) -> str:
        if action == "delete":
            await delete(session)
            return f"{noun} deleted."
        await update(session)
        return f"{noun} saved."

    return await save(deps, user, back, change, hints=hints)
