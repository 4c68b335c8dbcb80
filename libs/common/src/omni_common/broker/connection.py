"""Robust broker connections and process signal handling."""

from __future__ import annotations

import asyncio
import signal

import aio_pika
import structlog
from aio_pika.abc import AbstractRobustConnection

log = structlog.get_logger(__name__)


async def connect(url: str, *, name: str) -> AbstractRobustConnection:
    """Open a connection that reconnects (and restores its channels and consumers) by itself."""
    # The name shows up in the management UI, which tells which service holds which connection.
    return await aio_pika.connect_robust(url, client_properties={"connection_name": name})


def install_signal_handlers(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGTERM or SIGINT so the service can shut down gracefully."""
    loop = asyncio.get_running_loop()

    def _on_signal(sig: signal.Signals) -> None:
        log.info("signal_received", signal=sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, sig)
