"""The Graph HTTP client over aiohttp: what counts as "surely not sent", against real local sockets.

The distinction decides whether a failed send may be retried (never reached Meta) or must be
reconciled (Meta may have sent it), so each case is a real TCP peer behaving that way.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from omni_common.graph import GraphClient
from omni_common.graph.errors import ErrorClass, GraphError
from omni_common.graph.transport import graph_http

Peer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    await reader.readexactly(length)


async def _answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    body = b'{"messaging_product":"whatsapp","messages":[{"id":"wamid.OK1"}]}'
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    await writer.drain()
    writer.close()


async def _close_after_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)  # Meta got it, then the connection dies before any answer
    writer.close()


async def _never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    await asyncio.Event().wait()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Peer], Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(peer: Peer) -> str:
        server = await asyncio.start_server(peer, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v21.0"

    yield start
    for server in servers:
        server.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _send(base_url: str, *, read_s: float = 5.0) -> GraphError | str:
    async with graph_http(timeout=httpx.Timeout(read_s, connect=2.0)) as http:
        try:
            result = await GraphClient(http, base_url).send_message(
                "whatsapp", "1234567890", "tok", to="4915100000000", text="hi"
            )
        except GraphError as exc:
            return exc
    return result.external_message_id


async def test_an_answered_send_returns_meta_s_message_id(serve: Callable[[Peer], Awaitable[str]]) -> None:
    assert await _send(await serve(_answer_ok)) == "wamid.OK1"


async def test_a_refused_connection_was_surely_not_sent() -> None:
    error = await _send(f"http://127.0.0.1:{_closed_port()}/v21.0")
    assert isinstance(error, GraphError)
    assert error.request_sent is False
    assert error.error_class is ErrorClass.TRANSIENT


async def test_a_connection_closed_after_the_request_may_have_been_sent(
    serve: Callable[[Peer], Awaitable[str]],
) -> None:
    # httpx-aiohttp alone reports this as a ConnectTimeout ("not sent"): a retry could send twice.
    error = await _send(await serve(_close_after_request))
    assert isinstance(error, GraphError)
    assert error.request_sent is None
    assert error.error_class is ErrorClass.AMBIGUOUS


async def test_no_answer_within_the_read_timeout_may_have_been_sent(
    serve: Callable[[Peer], Awaitable[str]],
) -> None:
    error = await _send(await serve(_never_answer), read_s=0.3)
    assert isinstance(error, GraphError)
    assert error.request_sent is None
    assert error.error_class is ErrorClass.AMBIGUOUS
