"""Downloading media with the size cap enforced while the bytes arrive.

Reading a whole body and measuring it afterwards lets a hostile (or broken) server fill memory
first: the cap must stop the transfer, not judge it. A declared Content-Length over the cap is
refused before any byte is read; an undeclared or lying one is cut off at the first chunk past it.
"""

from __future__ import annotations

import httpx


class MediaTooLarge(Exception):
    """The body is (or would be) larger than the cap; the transfer was stopped."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


async def read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """The body of a streamed ``response``, or MediaTooLarge as soon as it passes ``max_bytes``."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise MediaTooLarge(max_bytes)
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise MediaTooLarge(max_bytes)
    return bytes(body)


async def fetch_public(http: httpx.AsyncClient, url: str, max_bytes: int) -> bytes:
    """GET a signed CDN URL (Messenger/Instagram attachments) without any token, capped.

    No redirects: a redirect could leave the allowed hosts the caller checked ``url`` against.
    """
    async with http.stream("GET", url, follow_redirects=False) as response:
        response.raise_for_status()
        return await read_capped(response, max_bytes)
