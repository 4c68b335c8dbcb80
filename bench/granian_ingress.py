"""The product ingress served by granian instead of uvicorn (a ``bench ingress`` variant only).

``python -m bench.granian_ingress``, configured like ``omni run ingress-webhooks`` (OMNI_* settings):
the same apps (``build_apps``), the public one on granian's embedded server (Rust HTTP, experimental
in granian 2.x), the health one on uvicorn as in the product. Kept in the bench until it pays.
"""

from __future__ import annotations

import asyncio
import signal

from granian.constants import Interfaces
from granian.server.embed import Server

from ingress_webhooks.main import build_apps
from omni_common import runtime
from omni_common.http_common import health_server
from omni_common.logging import configure_logging
from omni_common.settings import Settings


async def _serve(settings: Settings) -> None:
    apps = build_apps(settings)
    public = Server(
        apps.webhooks,
        address=settings.host,
        port=settings.ingress_port,
        interface=Interfaces.ASGI,
        log_enabled=False,
    )
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, public.stop)
    serving = asyncio.create_task(public.serve())
    health = health_server(apps.health, settings.host, settings.health_port)
    health_task = asyncio.create_task(health.serve())
    try:
        await serving
    finally:
        health.should_exit = True
        await health_task


def main() -> None:
    settings = Settings()
    configure_logging(service="ingress-webhooks", json=settings.log_json, level=settings.log_level)
    runtime.run(_serve(settings))


if __name__ == "__main__":
    main()
