"""Composition root of inbox-api: the only place that reads settings and opens connections."""

from __future__ import annotations

import uvicorn

from inbox_api.app import create_app
from omni_common.logging import configure_logging
from omni_common.settings import Settings


def main() -> None:
    """Serve the inbox on ``OMNI_INBOX_PORT``."""
    settings = Settings()
    configure_logging(service="inbox-api", json=settings.log_json, level=settings.log_level)
    uvicorn.run(create_app(lambda: True), host=settings.host, port=settings.inbox_port, log_level="warning")
