"""Routes every HTTP service exposes (liveness, readiness, Prometheus metrics), and the small server
that serves them for a process without HTTP routes of its own (workers, the account-monitor)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
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


class _SignalFreeServer(uvicorn.Server):
    """A uvicorn server that leaves SIGTERM and SIGINT to the process it runs in."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The worker's own handlers stop it gracefully and then this server; uvicorn's would stop
        # only this server first, so /readyz went away while the worker still held deliveries.
        yield


def health_server(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    """Serve ``app`` (health routes) inside a process that owns its signals; set ``should_exit`` to stop."""
    # log_config=None: uvicorn's loggers go through ours (omni_common.logging), redaction included.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, log_config=None)
    return _SignalFreeServer(config)
