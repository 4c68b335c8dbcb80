"""``python -m bench.delayproxy LISTEN_PORT UPSTREAM_PORT DELAY_MS``: a TCP proxy adding latency.

Every chunk the client sends reaches the upstream ``DELAY_MS`` later (order kept, chunks not
serialised), so each HTTP request on a keep-alive connection sees one extra ``DELAY_MS`` of round
trip, like a distant Graph API. Replies go back at once. 127.0.0.1 only; used by ``bench outbound``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

    async def forward() -> None:
        while (item := await queue.get()) is not None:
            due, data = item
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

    task = asyncio.create_task(forward())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, data))
        queue.put_nowait(None)
        await task
    finally:
        task.cancel()
        with contextlib.suppress(Exception):
            writer.close()


async def serve(listen: int, upstream: int, delay: float) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            client_w.close()
            return
        with contextlib.suppress(Exception):
            await asyncio.gather(_pump(client_r, up_w, delay), _pump(up_r, client_w, 0.0))

    server = await asyncio.start_server(handle, "127.0.0.1", listen, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    listen, upstream, delay_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(serve(listen, upstream, delay_ms / 1000))
    else:
        uvloop.run(serve(listen, upstream, delay_ms / 1000))


if __name__ == "__main__":
    main()
