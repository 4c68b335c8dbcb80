"""The inbox application: JSON API, server-sent events and the web pages, in one FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from inbox_api import (
    accounts,
    assistant,
    assistant_pages,
    audit_api,
    auth,
    conversations,
    events,
    health,
    labels,
    messages,
    notes,
    queue_pages,
    quick_replies,
    reactions,
    web,
    workflow,
)
from inbox_api.deps import InboxDeps
from omni_common.http_common import add_health_routes

STATIC = Path(__file__).parent / "static"
# No inline script or style anywhere: the policy can forbid them, which blunts injected markup.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def create_app(open_deps: Callable[[], AbstractAsyncContextManager[InboxDeps]]) -> FastAPI:
    """Build the inbox app; ``open_deps`` (from ``main`` or a test) yields its collaborators."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_deps() as deps:
            app.state.deps = deps
            yield

    app = FastAPI(title="Resevit Inbox API", version="1.0", lifespan=lifespan)

    def ready() -> bool:
        deps = getattr(app.state, "deps", None)
        return bool(deps and deps.ready())

    add_health_routes(app, ready)
    for module in (auth, conversations, messages, accounts, events, assistant, web, assistant_pages):
        app.include_router(module.router)
    # Team inbox: working the queue (state, assignment, labels, quick replies, notes), the audit
    # trail, channel health and staff reactions.
    for module in (workflow, labels, quick_replies, notes, audit_api, queue_pages, health, reactions):
        app.include_router(module.router)
    web.install_error_pages(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.url.path.startswith("/api/") and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response

    return app
