"""A Toxiproxy-style TCP proxy for fault tests: forward, cut every connection, refuse new ones, restore;
or hold what clients send (their bytes wait in the proxy) while the server's bytes keep flowing.

It runs on its own event loop in its own thread, so a test that blocks (polling, a subprocess wait)
never stalls the bytes it forwards. Services are pointed at the proxy's port instead of the real
server's; the shared PostgreSQL and RabbitMQ servers themselves are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_CHUNK = 64 * 1024


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target``; ``cut()`` drops everything until ``restore()``."""

    def __init__(self, name: str, target_host: str, target_port: int) -> None:
        self.name = name
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"proxy-{name}", daemon=True)
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._up = True
        self._flowing: asyncio.Event | None = None  # cleared: client -> server bytes are held
        self.port = 0
        self.accepted = 0
        self.refused = 0
        self.cut_connections = 0

    def start(self) -> int:
        """Listen on a free port; returns it."""
        self._thread.start()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._call(self._listen(sock))
        return self.port

    async def _listen(self, sock: socket.socket) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._on_client, sock=sock, backlog=512)

    async def _on_client(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if not self._up:
            # "Refuse": accept and reset at once, so the port stays ours for the restore.
            self.refused += 1
            client_w.transport.abort()
            return
        try:
            server_r, server_w = await asyncio.open_connection(*self._target)
        except OSError:
            client_w.transport.abort()
            return
        self.accepted += 1
        pair = (client_w, server_w)
        self._pairs.add(pair)
        try:
            await asyncio.gather(
                self._pipe(client_r, server_w, upstream=True), self._pipe(server_r, client_w)
            )
        finally:
            self._pairs.discard(pair)
            for writer in pair:
                writer.transport.abort()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool = False
    ) -> None:
        assert self._flowing is not None
        try:
            while data := await reader.read(_CHUNK):
                if upstream and not self._flowing.is_set():
                    await self._flowing.wait()
                if writer.transport.is_closing():  # cut while held: the held bytes are dropped
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # Half-close is not worth modelling: when one side ends, the pair ends.
            writer.transport.abort()

    def cut(self) -> int:
        """Reset every open connection and refuse new ones; returns how many were cut."""
        return self._call(self._cut())

    async def _cut(self) -> int:
        self._up = False
        pairs = list(self._pairs)
        for client_w, server_w in pairs:
            client_w.transport.abort()
            server_w.transport.abort()
        self.cut_connections += len(pairs)
        return len(pairs)

    def restore(self) -> None:
        """Accept and forward again (held bytes of connections still open go on)."""
        self._call(self._restore())

    async def _restore(self) -> None:
        self._up = True
        assert self._flowing is not None
        self._flowing.set()

    def hold(self) -> None:
        """Keep what clients send in the proxy (the server hears nothing more from them) while the
        server's bytes still reach the clients; ``restore()`` lets it go on, ``cut()`` drops it."""
        self._call(self._hold())

    async def _hold(self) -> None:
        assert self._flowing is not None
        self._flowing.clear()

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    def close(self) -> None:
        """Cut everything, stop listening and stop the thread."""

        async def shutdown() -> None:
            await self._cut()
            if self._flowing is not None:
                self._flowing.set()
            if self._server is not None:
                self._server.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._server.wait_closed(), 5)

        if self._thread.is_alive():
            self._call(shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)
