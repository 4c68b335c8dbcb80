"""After a message is stored, its media is downloaded and its sender's name fetched (via the sandbox)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from pipeline import Pipeline, provision, running_pipeline, sign, unique_digits, wait_until
from sandbox_server import sandbox, serve
from testenv import APP_SECRET

from omni_common.channels import samples
from omni_common.settings import Settings

pytestmark = pytest.mark.integration

TOKENS = {"whatsapp": "EAAsandbox-wa-token-0001", "facebook": "EAAsandbox-fb-token-0001"}
IMAGE = b"\x89PNG\r\n\x1a\n" + b"not really a png, but bytes all the same" * 10


@pytest.fixture(scope="module")
def world(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Pipeline, str, dict[str, str]]]:
    ids = {"whatsapp": unique_digits(), "facebook": unique_digits()}
    with sandbox() as sandbox_url:
        local = settings.model_copy(
            update={
                "graph_api_url": f"{sandbox_url}/v21.0",
                "media_storage": str(tmp_path_factory.mktemp("media")),
            }
        )
        with httpx.Client(base_url=f"{sandbox_url}/_sandbox") as control:
            for channel, account in ids.items():
                control.post(
                    "/accounts",
                    json={
                        "channel": channel,
                        "account_id": account,
                        "token": TOKENS[channel],
                        "display_name": "G",
                    },
                ).raise_for_status()
            control.post(
                "/media",
                json={
                    "content_base64": base64.b64encode(IMAGE).decode(),
                    "mime_type": "image/png",
                    "media_id": "media-0001",
                    "account_id": ids["whatsapp"],
                },
            ).raise_for_status()
            control.post(
                "/contacts",
                json={
                    "channel": "facebook",
                    "user_id": "psid-ana",
                    "name": "Ana Lima",
                    "account_id": ids["facebook"],
                },
            ).raise_for_status()
        db_name = asyncio.run(provision(local, "gamma", ids, tokens=TOKENS)).db_name
        with running_pipeline(local) as pipe:
            yield pipe, db_name, ids


def _post(pipe: Pipeline, channel: str, delivery: dict) -> None:
    import orjson

    body = orjson.dumps(delivery)
    response = httpx.post(
        f"{pipe.ingress_url}/webhooks/{channel}",
        content=body,
        headers={"X-Hub-Signature-256": sign(body, APP_SECRET)},
    )
    assert response.status_code == 200


def _image_delivery(account: str, media_id: str, mid: str) -> dict:
    return samples.whatsapp_delivery(
        "waba-gamma",
        account,
        {
            "contacts": [{"profile": {"name": "Lena"}, "wa_id": "4915100000001"}],
            "messages": [
                {
                    "from": "4915100000001",
                    "id": mid,
                    "timestamp": "1760000000",
                    "type": "image",
                    "image": {
                        "id": media_id,
                        "mime_type": "image/png",
                        "sha256": "x",
                        "caption": "our table",
                    },
                }
            ],
        },
    )


def test_whatsapp_media_is_downloaded_and_stored_per_tenant(
    world: tuple[Pipeline, str, dict[str, str]],
) -> None:
    pipe, db, ids = world
    mid = f"wamid.media-{unique_digits()}"
    _post(pipe, "whatsapp", _image_delivery(ids["whatsapp"], "media-0001", mid))
    row = wait_until(
        lambda: pipe.messages(db, "external_message_id = %s AND media->>'state' = 'stored'", (mid,)),
        what="stored media",
    )[0]
    assert row["text"] is None or "table" in (row["text"] or "")
    stored = Path(pipe.settings.media_storage) / str(row["tenant_id"]) / row["media"]["storage_key"]
    assert stored.read_bytes() == IMAGE
    assert row["media"]["mime_type"] == "image/png"


def test_failed_media_download_never_blocks_the_message(world: tuple[Pipeline, str, dict[str, str]]) -> None:
    pipe, db, ids = world
    mid = f"wamid.nomedia-{unique_digits()}"
    _post(pipe, "whatsapp", _image_delivery(ids["whatsapp"], "media-unknown", mid))
    # The message is there at once; the download fails permanently (Meta: no such object).
    wait_until(lambda: pipe.messages(db, "external_message_id = %s", (mid,)), what="message")
    row = wait_until(
        lambda: pipe.messages(db, "external_message_id = %s AND media->>'state' = 'failed'", (mid,)),
        what="failed media",
    )[0]
    assert row["kind"] == "image"


def test_messenger_sender_name_is_fetched_from_the_graph_api(
    world: tuple[Pipeline, str, dict[str, str]],
) -> None:
    pipe, db, ids = world
    mid = f"m_profile-{unique_digits()}"
    _post(
        pipe,
        "facebook",
        samples.messaging_text(
            "facebook",
            account_id=ids["facebook"],
            user_id="psid-ana",
            text="Table for two?",
            mid=mid,
            timestamp_ms=1_760_000_000_000,
        ),
    )
    rows = wait_until(
        lambda: pipe.query(
            db,
            "SELECT display_name FROM contacts WHERE external_id = 'psid-ana' AND display_name IS NOT NULL",
        ),
        what="contact name",
    )
    assert rows[0]["display_name"] == "Ana Lima"
    assert pipe.messages(db, "external_message_id = %s", (mid,))[0]["sender_name"] == "Ana Lima"


def test_messenger_attachment_is_fetched_from_an_allowed_cdn_without_a_token(
    world: tuple[Pipeline, str, dict[str, str]],
) -> None:
    seen: list[dict[str, str]] = []
    cdn = FastAPI()

    @cdn.get("/cdn/{name}")
    async def asset(name: str, request: Request) -> Response:
        seen.append(dict(request.headers))
        return Response(IMAGE, media_type="image/png")

    pipe, db, ids = world
    with serve(cdn) as cdn_url:
        mid = f"m_img-{unique_digits()}"
        delivery = samples.messaging_delivery(
            "facebook",
            ids["facebook"],
            {
                "sender": {"id": "psid-ana"},
                "recipient": {"id": ids["facebook"]},
                "timestamp": 1_760_000_000_000,
                "message": {
                    "mid": mid,
                    "attachments": [{"type": "image", "payload": {"url": f"{cdn_url}/cdn/a.png"}}],
                },
            },
            time_ms=1_760_000_000_000,
        )
        _post(pipe, "facebook", delivery)
        row = wait_until(
            lambda: pipe.messages(db, "external_message_id = %s AND media->>'state' = 'stored'", (mid,)),
            what="stored attachment",
        )[0]
    stored = Path(pipe.settings.media_storage) / str(row["tenant_id"]) / row["media"]["storage_key"]
    assert stored.read_bytes() == IMAGE
    assert seen
    assert "authorization" not in seen[0]


def test_attachment_urls_off_the_allow_list_are_never_fetched(
    world: tuple[Pipeline, str, dict[str, str]],
) -> None:
    pipe, db, ids = world
    mid = f"m_ssrf-{unique_digits()}"
    delivery = samples.messaging_delivery(
        "facebook",
        ids["facebook"],
        {
            "sender": {"id": "psid-ana"},
            "recipient": {"id": ids["facebook"]},
            "timestamp": 1_760_000_000_000,
            "message": {
                "mid": mid,
                "attachments": [{"type": "file", "payload": {"url": "http://169.254.169.254/x"}}],
            },
        },
        time_ms=1_760_000_000_000,
    )
    _post(pipe, "facebook", delivery)
    row = wait_until(
        lambda: pipe.messages(db, "external_message_id = %s AND media->>'state' = 'linked'", (mid,)),
        what="linked, not fetched",
    )[0]
    assert row["media"]["note"] == "host not allowed"
