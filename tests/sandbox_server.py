"""Run ASGI apps (the Meta sandbox, a webhook receiver) on free 127.0.0.1 ports in background threads.

Each server has its own event loop in its own thread, so tests talk to it over a real socket exactly
as services would, and parallel test runs never share a port.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

from meta_sandbox import SandboxConfig, create_app

START_TIMEOUT_S = 10.0


class _Server(uvicorn.Server):
    """uvicorn server that reports when it is listening (instead of tests polling the port)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()

    def install_signal_handlers(self) -> None:  # not the main thread: leave signals to pytest
        pass


# Below Linux's ephemeral range (32768-60999 by default): a port the kernel hands out for port 0 comes
# from that range, where any outgoing connection of the parallel tests may take it before the server
# started on it binds (seen once: omni dev's ingress "address already in use" in a whole-suite run).
_PORTS = (20000, 32000)


def free_port() -> int:
    """A port nothing listens on right now (for a server started later, or a connect-error test)."""
    return free_ports(1)


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports nothing listens on right now (``omni dev``'s health
    ports are a base and offsets)."""
    for _ in range(200):
        base = random.randint(_PORTS[0], _PORTS[1] - count)
        socks = [socket.socket() for _ in range(count)]
        try:
            for i, sock in enumerate(socks):
                sock.bind(("127.0.0.1", base + i))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        return base
    raise RuntimeError(f"no {count} free ports in {_PORTS}")


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free port; yields its base URL ``http://127.0.0.1:PORT``."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # bound here, before the thread starts: no race for the port
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=2,
        log_config=None,
        proxy_headers=False,  # as the services serve: the app decides whom to believe (OMNI_TRUSTED_PROXIES)
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    if not server.ready.wait(START_TIMEOUT_S):
        raise RuntimeError("server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT_S)
        sock.close()


@contextmanager
def sandbox(config: SandboxConfig | None = None) -> Iterator[str]:
    """A Meta sandbox on a free port; yields its root URL (the Graph base is ``URL + "/v21.0"``)."""
    with serve(create_app(config)) as url:
        yield url


@dataclass
class Captured:
    """One POST the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """Collects POSTs in the server thread; tests wait on a condition, never a fixed sleep."""

    status_code: int = 200
    posts: list[Captured] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def app(self) -> FastAPI:
        """ASGI app that records every POST and answers ``status_code``."""
        app = FastAPI()

        @app.post("/{path:path}")
        async def capture(path: str, request: Request) -> Response:
            body = await request.body()
            with self._cond:
                self.posts.append(Captured("/" + path, dict(request.headers), body))
                self._cond.notify_all()
            return Response(status_code=self.status_code)

        return app

    def wait_for(self, count: int, contains: str = "", timeout_s: float = 5.0) -> list[Captured]:
        """Block until ``count`` POSTs whose body contains ``contains`` arrived (else ``TimeoutError``)."""
        needle = contains.encode()

        def matching() -> list[Captured]:
            return [p for p in self.posts if needle in p.body]

        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= count, timeout_s):
                raise TimeoutError(f"got {len(matching())} webhooks, wanted {count}")
            return matching()

    async def await_count(self, count: int, contains: str = "", timeout_s: float = 5.0) -> list[Captured]:
        """``wait_for`` without blocking the test's event loop."""
        return await asyncio.to_thread(self.wait_for, count, contains, timeout_s)


class SandboxControl:
    """Typed helpers over the sandbox's ``/_sandbox`` control endpoints."""

    def __init__(self, http: httpx.AsyncClient, root_url: str) -> None:
        self.http = http
        self.root = root_url
        self.graph_url = f"{root_url}/v21.0"

    async def add_account(self, channel: str, **extra: Any) -> tuple[str, str]:
        """Register a fresh account (unique id and token, so tests never collide); returns both."""
        account_id = extra.pop("account_id", None) or f"{secrets.randbelow(10**12):012d}"
        token = extra.pop("token", None) or f"EAA{secrets.token_urlsafe(24)}"
        body = {"channel": channel, "account_id": account_id, "token": token, "display_name": "Pizza Roma"}
        await self._post("/accounts", {**body, **extra})
        return account_id, token

    async def add_fault(self, error_code: int, **extra: Any) -> None:
        """Inject a fault (see ``FaultIn`` in meta_sandbox.control)."""
        await self._post("/faults", {"error_code": error_code, **extra})

    async def requests(self, path_contains: str = "") -> list[dict[str, Any]]:
        """Recorded Graph requests whose path contains the string."""
        response = await self.http.get(
            f"{self.root}/_sandbox/requests", params={"path_contains": path_contains}
        )
        response.raise_for_status()
        return response.json()

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST any control endpoint (``path`` under ``/_sandbox``)."""
        return await self._post(path, body)

    async def get(self, path: str) -> Any:
        """GET any control endpoint (``path`` under ``/_sandbox``)."""
        response = await self.http.get(f"{self.root}/_sandbox{path}")
        response.raise_for_status()
        return response.json()

    async def add_person(self, prefix: str | None = None, **extra: Any) -> dict[str, Any]:
        """Seed a test person (``/_sandbox/people``) with fresh ids unless ``extra`` gives them.

        Default assets: a Page with an Instagram account, a second Page without one, and a business
        with one WABA holding a registered number and a number still to register.
        """
        p = prefix or f"{secrets.randbelow(10**9):09d}"
        body: dict[str, Any] = {
            "user_id": f"10{p}",
            "name": "Olga Owner",
            "pages": [
                {
                    "id": f"30{p}",
                    "name": "Trattoria Olga",
                    "instagram": {"id": f"40{p}", "username": "trattoria"},
                },
                {"id": f"31{p}", "name": "Olga's Bakery"},
            ],
            "businesses": [
                {
                    "id": f"50{p}",
                    "name": "Olga SL",
                    "wabas": [
                        {
                            "id": f"20{p}",
                            "name": "Trattoria WhatsApp",
                            "phone_numbers": [
                                {
                                    "id": f"11{p}",
                                    "display_phone_number": "+34 600 000 001",
                                    "verified_name": "Trattoria",
                                },
                                {
                                    "id": f"12{p}",
                                    "display_phone_number": "+34 600 000 002",
                                    "verified_name": "Trattoria Two",
                                    "registered": False,
                                    "name_status": "PENDING_REVIEW",
                                },
                            ],
                        }
                    ],
                }
            ],
        }
        return await self._post("/people", {**body, **extra})

    async def consent(
        self,
        *,
        person: str,
        redirect_uri: str,
        perms: list[str],
        scope: str | None = None,
        state: str = "state-1",
        action: str = "confirm",
        **picked: Any,
    ) -> httpx.Response:
        """Submit the login dialog's form as a browser would (``picked``: page, instagram, waba, phone,
        config_id, extras, return_scopes); the answer is the dialog's redirect, not followed."""
        form: dict[str, Any] = {
            "client_id": "sandbox-app",
            "redirect_uri": redirect_uri,
            "state": state,
            "person": person,
            "perm": perms,
            "action": action,
            **({"scope": scope} if scope is not None else {}),
            **picked,
        }
        return await self.http.post(
            f"{self.graph_url}/dialog/oauth/confirm", data=form, follow_redirects=False
        )

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(f"{self.root}/_sandbox{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else {}


def redirect_query(response: httpx.Response) -> dict[str, str]:
    """The query of the dialog's redirect (``code``, ``state``, or ``error…``)."""
    assert response.status_code == 303, response.text
    return dict(httpx.URL(response.headers["location"]).params)
