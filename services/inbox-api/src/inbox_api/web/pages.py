"""The frame of every signed-in page, and how pages answer a refused or missing session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from inbox_api.accounts.notifications import list_notifications
from inbox_api.auth.dependencies import NotSignedIn
from inbox_api.auth.models import Principal
from inbox_api.auth.service import AuthProblem
from inbox_api.deps import InboxDeps
from inbox_api.web.templates import render


async def page_context(deps: InboxDeps, user: Principal) -> dict[str, Any]:
    """What ``base.html`` needs: the user, the session's CSRF token and the banner's open notices."""
    async with deps.registry.session(user.tenant_id) as session:
        notes = await list_notifications(session, open_only=True)
    return {"user": user, "csrf": deps.signer.csrf_token(user.sid), "notifications": notes}


@dataclass(frozen=True)
class Notice:
    """What the last form did (``msg``) or why it did not (``err``), from the page's query string."""

    msg: str | None = None
    err: str | None = None


PageNotice = Annotated[Notice, Depends()]


async def render_page(
    request: Request,
    deps: InboxDeps,
    user: Principal,
    name: str,
    context: dict[str, Any],
    notice: Notice | None = None,
) -> HTMLResponse:
    """A full page: ``base.html``'s frame (user, CSRF, banner) around the page's own context."""
    frame = await page_context(deps, user)
    said = {"msg": notice.msg, "err": notice.err} if notice is not None else {}
    return render(request, name, frame | context | said)


def install_error_pages(app: FastAPI) -> None:
    """Pages answer with a redirect to the login page or a readable refusal, never raw JSON."""

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        if request.headers.get("HX-Request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(AuthProblem)
    async def refused(request: Request, exc: AuthProblem) -> Response:
        return render(request, "error.html", {"message": exc.detail}, exc.status)
