"""The inbox application: JSON API, server-sent events and the web pages, in one FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from inbox_api import errors
from inbox_api.accounts import api as accounts_api
from inbox_api.accounts import pages as accounts_pages
from inbox_api.assistant import api as assistant_api
from inbox_api.assistant import pages as assistant_pages
from inbox_api.audit import api as audit_api
from inbox_api.audit import pages as audit_pages
from inbox_api.auth import api as auth_api
from inbox_api.auth import pages as auth_pages
from inbox_api.connect import pages as connect_pages
from inbox_api.connect import signup_pages as connect_signup_pages
from inbox_api.contacts import api as contacts_api
from inbox_api.contacts import pages as contacts_pages
from inbox_api.conversations import api as conversations_api
from inbox_api.conversations import pages as conversations_pages
from inbox_api.deps import InboxDeps
from inbox_api.display import pages as display_pages
from inbox_api.health import api as health_api
from inbox_api.health import pages as health_pages
from inbox_api.labels import api as labels_api
from inbox_api.labels import pages as labels_pages
from inbox_api.live import api as live_api
from inbox_api.messages import api as messages_api
from inbox_api.messages import pages as messages_pages
from inbox_api.notes import api as notes_api
from inbox_api.notes import pages as notes_pages
from inbox_api.push import api as push_api
from inbox_api.push import pages as push_pages
from inbox_api.quick_replies import api as quick_replies_api
from inbox_api.quick_replies import pages as quick_replies_pages
from inbox_api.signals import api as signals_api
from inbox_api.team import api as team_api
from inbox_api.team import pages as team_pages
from inbox_api.wa_templates import api as wa_templates_api
from inbox_api.wa_templates import pages as wa_templates_pages
from inbox_api.web.pages import install_error_pages
from omni_common.http_common import add_health_routes

HSTS = "max-age=31536000; includeSubDomains"
STATIC = Path(__file__).parent / "static"
# The JSON API (in the OpenAPI document), then the pages and fragments (not in it).
ROUTERS: tuple[APIRouter, ...] = (
    auth_api.router,
    conversations_api.router,
    messages_api.router,
    accounts_api.router,
    live_api.router,
    assistant_api.router,
    conversations_api.queue_router,
    labels_api.router,
    quick_replies_api.router,
    notes_api.router,
    audit_api.router,
    health_api.router,
    wa_templates_api.router,
    push_api.router,
    signals_api.router,
    team_api.router,
    auth_pages.router,
    team_pages.router,
    conversations_pages.router,
    messages_pages.router,
    notes_pages.router,
    labels_pages.router,
    quick_replies_pages.router,
    accounts_pages.router,
    connect_pages.router,
    connect_signup_pages.router,
    assistant_pages.router,
    audit_pages.router,
    health_pages.router,
    wa_templates_pages.router,
    contacts_api.router,
    contacts_pages.router,
    display_pages.router,
    push_pages.router,
)


def content_security_policy(media_origin: str | None = None) -> str:
    """No inline script or style anywhere: the policy can forbid them, which blunts injected markup.
    ``media_origin``: the object storage that signed media links point to, allowed for images,
    audio and video only (nothing there can run as a script of the inbox)."""
    media = f" {media_origin}" if media_origin else ""
    return (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:{media}; "
        f"media-src 'self'{media}; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
        "base-uri 'none'"
    )


CSP = content_security_policy()


def create_app(
    open_deps: Callable[[], AbstractAsyncContextManager[InboxDeps]], *, api_docs: bool = True
) -> FastAPI:
    """Build the inbox app; ``open_deps`` (from ``main`` or a test) yields its collaborators.

    ``api_docs``: serve ``/docs`` and ``/openapi.json`` (development only: ``main`` decides), a map of
    every route an attacker need not be handed."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_deps() as deps:
            app.state.deps = deps
            app.state.csp = content_security_policy(deps.storage.browser_origin)
            yield

    hidden: dict[str, Any] = {} if api_docs else {"docs_url": None, "redoc_url": None, "openapi_url": None}
    app = FastAPI(title="Resevit Inbox API", version="1.0", lifespan=lifespan, **hidden)

    def ready() -> bool:
        deps = getattr(app.state, "deps", None)
        return bool(deps and deps.ready())

    add_health_routes(app, ready)
    for router in ROUTERS:
        app.include_router(router)
    messages_api.document_reply_body(app)  # the reply route reads JSON or multipart itself
    errors.install(app)
    install_error_pages(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", getattr(app.state, "csp", CSP))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        deps = getattr(request.app.state, "deps", None)
        if request.url.scheme == "https" or (deps is not None and deps.hsts):
            # A year, as the HSTS preload list asks; never sent over plain http (browsers ignore it there).
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if request.url.path.startswith("/api/") and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response

    return app
