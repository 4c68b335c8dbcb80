"""A sampling loop in a daemon thread, between ``start()`` and ``stop()``."""

from __future__ import annotations

import threading


class BackgroundLoop:
    """Subclasses implement ``_loop``, which runs until ``self._stop`` is set."""

    _stop: threading.Event
    _thread: threading.Thread | None = None

    def _loop(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
