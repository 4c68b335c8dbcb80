"""The inbox application (routes arrive with the inbox issue)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from omni_common.http_common import add_health_routes


def create_app(ready: Callable[[], bool]) -> FastAPI:
    """Build the inbox app; collaborators are passed in by ``main``."""
    app = FastAPI(title="Resevit Inbox API")
    add_health_routes(app, ready)
    return app
