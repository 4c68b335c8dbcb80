"""Media downloads stop at the cap while reading, and WhatsApp's token only goes to allowed hosts.

Real sockets throughout: a local server streams bodies bigger than a small cap (so no test sends
100 MB), and a Meta sandbox whose media URLs point at a host off the allow-list.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import AsyncIterator, Iterator

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from pipeline import Pipeline, provision, running_pipeline, sign, unique_digits, wait_until
from sandbox_server import sandbox, serve
from testenv import APP_SECRET

from meta_sandbox.state import SandboxConfig
from omni_common.channels import samples
from omni_common.graph import GraphClient, GraphError
from omni_common.graph.transport import graph_http
from omni_common.media.download import MediaTooLarge, fetch_public
from omni_common.settings import Settings

pytestmark = pytest.mark.integration

CAP = 64 * 1024
CHUNK = 16 * 1024
ENDLESS_CHUNKS = 100_000  # 1.6 GB if anyone read it all


class Streamer:
    """Serves bodies of chosen sizes and counts how many chunks were actually produced."""

    def __init__(self) -> None:
        self.produced = 0
        self.seen: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/endless")
        async def endless(request: Request) -> StreamingResponse:
            self.seen.append(dict(request.headers))

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(ENDLESS_CHUNKS):
                    with self.lock:
                        self.produced += 1
                    yield b"x" * CHUNK
                    await asyncio.sleep(0)

            return StreamingResponse(chunks(), media_type="application/octet-stream")

        @app.get("/declared")
        async def declared(request: Request) -> Response:
            self.seen.append(dict(request.headers))
            return Response(b"y" * (CAP + 1), media_type="image/png")

        @app.get("/fits")
        async def fits(request: Request) -> Response:
            self.seen.append(dict(request.headers))
            return Response(b"z" * CAP, media_type="image/png")

        @app.get("/bounce")
        async def bounce() -> Response:
            return Response(status_code=302, headers={"location": "http://169.254.169.254/"})

        return app


@pytest.fixture(scope="module")
def streamer() -> Iterator[tuple[Streamer, str]]:
    s = Streamer()
    with serve(s.app()) as url:
        yield s, url


def _client() -> httpx.AsyncClient:
    return graph_http(timeout=httpx.Timeout(10.0, connect=5.0))


@pytest.mark.parametrize("path", ["/endless", "/declared"])
async def test_graph_download_stops_at_the_cap(streamer: tuple[Streamer, str], path: str) -> None:
    s, url = streamer
    before = s.produced
    async with _client() as http:
        with pytest.raises(MediaTooLarge):
            await GraphClient(http, f"{url}/v21.0").download(f"{url}{path}", "tok", max_bytes=CAP)
        # Proof the body was not read to its end: far fewer chunks left the server than it had.
        assert s.produced - before < ENDLESS_CHUNKS // 10


async def test_public_fetch_stops_at_the_cap_and_sends_no_token(streamer: tuple[Streamer, str]) -> None:
    s, url = streamer
    s.seen.clear()
    async with _client() as http:
        with pytest.raises(MediaTooLarge):
            await fetch_public(http, f"{url}/endless", CAP)
        assert await fetch_public(http, f"{url}/fits", CAP) == b"z" * CAP
    assert all("authorization" not in headers for headers in s.seen)


async def test_redirects_are_not_followed(streamer: tuple[Streamer, str]) -> None:
    _, url = streamer
    async with _client() as http:
        with pytest.raises(httpx.HTTPStatusError):
            await fetch_public(http, f"{url}/bounce", CAP)
        with pytest.raises(GraphError, match="redirect"):
            await GraphClient(http, f"{url}/v21.0").download(f"{url}/bounce", "tok", max_bytes=CAP)


# --- the whole pipeline: a Graph media URL off the allow-list -------------------------------------

TOKEN = "EAAsandbox-wa-token-hostile"


class Elsewhere:
    """A host that is not on the allow-list (``localhost``, while tests allow ``127.0.0.1``)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/{rest:path}")
        async def anything(rest: str, request: Request) -> Response:
            self.requests.append(dict(request.headers))
            return Response(b"stolen", media_type="image/png")

        return app


def test_whatsapp_media_url_off_the_allow_list_is_refused_and_gets_no_token(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    account = unique_digits()
    elsewhere = Elsewhere()
    with serve(elsewhere.app()) as elsewhere_url:
        public = elsewhere_url.replace("127.0.0.1", "localhost")
        with sandbox(SandboxConfig(public_url=public)) as sandbox_url:
            local = settings.model_copy(
                update={
                    "graph_api_url": f"{sandbox_url}/v21.0",
                    "media_storage": str(tmp_path_factory.mktemp("media")),
                }
            )
            assert local.media_hosts == ["127.0.0.1"]
            with httpx.Client(base_url=f"{sandbox_url}/_sandbox") as control:
                control.post(
                    "/accounts",
                    json={"channel": "whatsapp", "account_id": account, "token": TOKEN, "display_name": "H"},
                ).raise_for_status()
                control.post(
                    "/media",
                    json={
                        "content_base64": base64.b64encode(b"\x89PNG....").decode(),
                        "mime_type": "image/png",
                        "media_id": "media-elsewhere",
                        "account_id": account,
                    },
                ).raise_for_status()
            db = asyncio.run(provision(local, "hostmedia", {"whatsapp": account}, tokens={"whatsapp": TOKEN}))
            with running_pipeline(local) as pipe:
                mid = f"wamid.elsewhere-{unique_digits()}"
                _post_image(pipe, account, mid)
                row = wait_until(
                    lambda: pipe.messages(
                        db.db_name, "external_message_id = %s AND media->>'state' = 'failed'", (mid,)
                    ),
                    what="media refused",
                )[0]
    assert row["media"]["error"] == "host not allowed"
    assert elsewhere.requests == []  # the token never went there (nor anything else)


def _post_image(pipe: Pipeline, account: str, mid: str) -> None:
    delivery = samples.whatsapp_delivery(
        "waba-hostile",
        account,
        {
            "contacts": [{"profile": {"name": "Lena"}, "wa_id": "4915100000002"}],
            "messages": [
                {
                    "from": "4915100000002",
                    "id": mid,
                    "timestamp": "1760000000",
                    "type": "image",
                    "image": {"id": "media-elsewhere", "mime_type": "image/png", "sha256": "x"},
                }
            ],
        },
    )
    body = orjson.dumps(delivery)
    response = httpx.post(
        f"{pipe.ingress_url}/webhooks/whatsapp",
        content=body,
        headers={"X-Hub-Signature-256": sign(body, APP_SECRET)},
    )
    assert response.status_code == 200
