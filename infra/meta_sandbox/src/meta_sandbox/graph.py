"""Shared plumbing of the fake Graph routes: request recording, token extraction, fault application.

Who a token is and what it may touch: ``access.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

import structlog
from fastapi import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from meta_sandbox.errors import MetaError, is_throttling, usage_headers
from meta_sandbox.state import Account, Fault, SandboxState

log = structlog.get_logger(__name__)

_VERSION = re.compile(r"v\d+\.\d+")


def sandbox_state(request: Request) -> SandboxState:
    """The app's state object."""
    state: SandboxState = request.app.state.sandbox
    return state


def check_version(ver: str) -> None:
    """Graph paths start with a version such as ``v21.0``."""
    if not _VERSION.fullmatch(ver):
        raise MetaError(100, message=f"(#100) Unknown path components: /{ver}", http_status=404)


async def record(request: Request) -> dict[str, Any]:
    """Remember the request as the client sent it (headers included, so tests can assert on auth)."""
    raw = await request.body()
    _, source = extract_token(request)
    multipart = request.headers.get("content-type", "").startswith("multipart/")
    entry: dict[str, Any] = {
        "seq": len(sandbox_state(request).requests) + 1,
        "time": time.time(),
        "method": request.method,
        "path": request.url.path,
        "url": str(request.url),
        "query": dict(request.query_params),
        "headers": dict(request.headers),
        "json": None,
        # Uploads can be megabytes of bytes: the log keeps their size, the form fields are parsed later.
        "body": f"<multipart, {len(raw)} bytes>" if multipart else raw.decode("utf-8", "replace"),
        "token_source": source,
        "response_status": None,
    }
    if raw and not multipart:
        with contextlib.suppress(ValueError):
            entry["json"] = await request.json()
    sandbox_state(request).requests.append(entry)
    request.state.record = entry
    if source is None:  # perhaps in the JSON body, parsed just above
        source = entry["token_source"] = extract_token(request)[1]
    log.info("sandbox.request", method=request.method, path=request.url.path, token_source=source)
    return entry


def extract_token(request: Request) -> tuple[str | None, str | None]:
    """Token and where it came from: ``header``, ``query`` (Messenger's documented form), ``both``, or
    ``body`` (the attachment upload API's JSON example carries ``access_token`` in the body)."""
    header = request.headers.get("authorization", "")
    bearer = header[7:].strip() if header[:7].lower() == "bearer " else None
    query = request.query_params.get("access_token")
    source = "both" if bearer and query else "header" if bearer else "query" if query else None
    if bearer or query:
        return bearer or query, source
    recorded = getattr(request.state, "record", None)
    body = recorded.get("json") if isinstance(recorded, dict) else None
    in_body = body.get("access_token") if isinstance(body, dict) else None
    return (in_body, "body") if isinstance(in_body, str) and in_body else (None, None)


def is_app_token(request: Request) -> bool:
    """True for an app access token (``{app_id}|{app_secret}``), which may call ``debug_token``."""
    token, _ = extract_token(request)
    app_id = sandbox_state(request).config.app_id
    return token is not None and token.startswith(f"{app_id}|") and len(token) > len(app_id) + 1


def not_found(object_id: str, method: str = "get") -> MetaError:
    """Meta's answer for an id that does not exist or that this token may not see."""
    return MetaError(
        100,
        subcode=33,
        message=f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation.",
    )


async def apply_fault(request: Request, fault: Fault, account: Account, *, object_id: str) -> Response | None:
    """Act out an injected fault; None means "carry on and answer normally" (slow timeout)."""
    if fault.mode == "timeout":
        # Hang until the client gives up (or the configured time passes), then answer normally:
        # the action did happen, which is exactly why a read timeout is ambiguous for the client.
        await hang(request, sandbox_state(request).config.timeout_fault_s)
        return None
    if fault.mode == "reset":
        return DroppedResponse()
    headers = dict(fault.headers)
    if is_throttling(fault.error_code):
        headers = {
            **usage_headers(
                fault.error_code,
                object_id=object_id,
                channel=account.channel,
                regain_minutes=fault.regain_minutes,
            ),
            **headers,
        }
    raise MetaError(
        fault.error_code,
        subcode=fault.error_subcode,
        message=fault.message,
        http_status=fault.http_status,
        whatsapp=account.channel == "whatsapp",
        headers=headers,
    )


async def hang(request: Request, limit_s: float) -> None:
    """Wait until the client disconnects, at most ``limit_s`` seconds."""

    async def _disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_disconnected(), limit_s)


class DroppedResponse(Response):
    """Starts a 200 answer and drops the connection mid-body: the client cannot know the outcome."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"512")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"messag', "more_body": True})
        # Returning with the body incomplete makes uvicorn close the connection.
