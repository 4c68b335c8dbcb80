"""Routes every HTTP service exposes: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def add_health_routes(
    app: FastAPI, ready: Callable[[], bool], before_metrics: Callable[[], Awaitable[object]] | None = None
) -> None:
    """``/healthz`` (the process answers), ``/readyz`` (its dependencies answer), ``/metrics``.

    ``before_metrics`` runs before each scrape (gauges read at scrape time, e.g. queue depths); it
    must bound its own time and not raise.
    """

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        ok = ready()
        return Response(
            content='{"status":"ready"}' if ok else '{"status":"not ready"}',
            status_code=200 if ok else 503,
            media_type="application/json",
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        if before_metrics is not None:
            await before_metrics()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
