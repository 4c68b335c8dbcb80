"""Media on S3-compatible storage over real sockets on 127.0.0.1 (MinIO's server cannot be installed
here): moto's S3 server (Python, kept by the moto project) for the whole path (normalizer, inbox,
sender, sandbox), and s3rver (npm, installed by ./scripts/bootstrap) for a signed link's expiry,
which moto does not check and s3rver refuses as S3 does ("Request has expired").

Inbound media lands under its tenant's prefix; the inbox hands the browser a short-lived signed link
only after finding the message in the user's own tenant (another tenant gets a 404, and no key of
one tenant reaches another's objects); staff's files are stored there and read back by the sender
for the upload to Meta.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from inbox_support import PASSWORD, SeededTenant, seed
from pipeline import wait_until
from s3_support import BUCKET, PREFIX, moto_s3, receive_image, s3_stack
from sample_files import png
from templates_support import Stack

from omni_common.media.s3 import S3Storage
from omni_common.media.storage import storage_from_url
from omni_common.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def bucket(s3_endpoint: str) -> Any:
    """A plain client on the bucket: what is really stored, under which key."""
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture(scope="module")
def tenants(settings: Settings) -> tuple[SeededTenant, SeededTenant]:
    suffix = uuid.uuid4().hex[:6]
    return seed(settings, f"s3-a-{suffix}"), seed(settings, f"s3-b-{suffix}")


@pytest.fixture(scope="module")
def stack(
    settings: Settings, tenants: tuple[SeededTenant, SeededTenant], s3_endpoint: str
) -> Iterator[Stack]:
    with s3_stack(settings, tenants[0], s3_endpoint) as s:
        yield s


def _object(bucket: Any, tenant: SeededTenant, key: str) -> bytes:
    return bytes(bucket.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{tenant.id}/{key}")["Body"].read())


def _bearer(stack: Stack, tenant: SeededTenant) -> dict[str, str]:
    with httpx.Client(base_url=stack.inbox) as client:
        body = {"tenant": tenant.slug, "email": tenant.users["manager"], "password": PASSWORD}
        answer = client.post("/api/auth/login", json=body)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_inbound_media_is_stored_under_its_tenant_and_served_by_a_signed_link(
    stack: Stack, bucket: Any, s3_endpoint: str
) -> None:
    image = png(12, 12, (10, 120, 200))
    row = receive_image(stack, image)
    key = row["media"]["storage_key"]
    assert _object(bucket, stack.tenant, key) == image  # <prefix>/<tenant id>/<key>, nowhere else

    answer = stack.http.get(f"/api/media/{row['id']}", follow_redirects=False)
    assert answer.status_code == 302
    assert answer.headers["cache-control"] == "no-store"  # the link is the credential
    link = answer.headers["location"]
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == s3_endpoint
    assert parts.path == f"/{BUCKET}/{PREFIX}/{stack.tenant.id}/{key}"
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["300"]  # five minutes, then the page asks the inbox again
    assert "X-Amz-Signature" in query
    assert "omni-test-secret" not in link

    served = httpx.get(link)  # the browser follows it: no cookie, no token, straight from S3
    assert served.status_code == 200
    assert served.content == image
    assert served.headers["content-type"] == "image/png"
    assert served.headers["content-disposition"] == "inline"

    # The page allows images and audio/video from the storage's origin, and nothing else from it.
    csp = stack.http.get("/api/auth/me").headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert s3_endpoint in directives["img-src"]
    assert s3_endpoint in directives["media-src"]
    assert s3_endpoint not in directives["script-src"] + directives["connect-src"]


def test_another_tenant_gets_a_404_and_no_key_crosses_tenants(
    stack: Stack, tenants: tuple[SeededTenant, SeededTenant], bucket: Any, s3_endpoint: str
) -> None:
    a, b = tenants
    row = receive_image(stack, png(4, 4, (1, 2, 3)))
    key = row["media"]["storage_key"]
    other = stack.http.get(f"/api/media/{row['id']}", headers=_bearer(stack, b), follow_redirects=False)
    assert other.status_code == 404
    assert "location" not in other.headers
    # Even with A's key in hand, B's storage looks only under B's prefix.
    storage = storage_from_url(f"s3://{BUCKET}/{PREFIX}?endpoint={s3_endpoint}&region=us-east-1")
    with pytest.raises(FileNotFoundError):
        asyncio.run(storage.get(b.id, key))
    with pytest.raises(FileNotFoundError):
        asyncio.run(storage.browser_url(b.id, key, content_type="image/png", disposition="inline"))
    with pytest.raises(ValueError, match="unsafe"):
        asyncio.run(storage.get(b.id, f"../{a.id}/{key}"))
    assert asyncio.run(storage.get(a.id, key)) == _object(bucket, a, key)


def test_a_signed_link_carries_its_short_lifetime(stack: Stack, s3_endpoint: str) -> None:
    """The lifetime is signed into the link (moto serves it either way; expiry: the next test)."""
    row = receive_image(stack, png(5, 5))
    quick = S3Storage(BUCKET, prefix=PREFIX, endpoint_url=s3_endpoint, region="us-east-1", url_seconds=2)
    link = asyncio.run(
        quick.browser_url(
            stack.tenant.id, row["media"]["storage_key"], content_type="image/png", disposition="inline"
        )
    )
    query = parse_qs(urlsplit(link).query)
    assert query["X-Amz-Expires"] == ["2"]
    assert query["response-cache-control"] == ["private, max-age=2"]
    assert httpx.get(link).status_code == 200


S3RVER = Path(__file__).resolve().parents[2] / ".venv/s3rver/node_modules/s3rver/bin/s3rver.js"
S3RVER_KEY = "S3RVER"  # s3rver's one account (access key id and secret alike)


@pytest.fixture
def s3rver_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    node = shutil.which("node")
    if node is None or not S3RVER.exists():
        pytest.fail("s3rver is not installed: run ./scripts/bootstrap (it needs node and npm)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["-d", str(tmp_path), "-a", "127.0.0.1", "-p", str(port), "-s", "--no-vhost-buckets"]
    server = subprocess.Popen(
        [node, str(S3RVER), *args, "--configure-bucket", BUCKET],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: _listening(port), timeout=15, what="s3rver listening")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3RVER_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3RVER_KEY)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_a_signed_link_works_then_expires(s3rver_endpoint: str) -> None:
    storage = storage_from_url(
        f"s3://{BUCKET}/{PREFIX}?endpoint={s3rver_endpoint}&region=us-east-1&url_seconds=2"
    )
    tenant, other = uuid.uuid4(), uuid.uuid4()
    asyncio.run(storage.put(tenant, "m.pdf", b"%PDF-1.4 menu", "application/pdf"))
    link = asyncio.run(
        storage.browser_url(
            tenant,
            "m.pdf",
            content_type="application/octet-stream",
            disposition="attachment; filename*=UTF-8''Menu.pdf",
        )
    )
    fresh = httpx.get(link)
    assert fresh.status_code == 200
    assert fresh.content == b"%PDF-1.4 menu"
    assert fresh.headers["content-disposition"] == "attachment; filename*=UTF-8''Menu.pdf"
    assert fresh.headers["content-type"] == "application/octet-stream"
    with pytest.raises(FileNotFoundError):  # the same name under another tenant is not there
        asyncio.run(storage.get(other, "m.pdf"))
    time.sleep(3.1)  # the signing time is kept to the second: 2 s after it, at most 3 s from now
    expired = httpx.get(link)
    assert expired.status_code == 403
    assert "Request has expired" in expired.text
    # The inbox signs a new link on the next page load; the object itself is untouched.
    again = asyncio.run(
        storage.browser_url(tenant, "m.pdf", content_type="application/pdf", disposition="inline")
    )
    assert httpx.get(again).status_code == 200


def test_staff_files_go_to_s3_and_the_sender_reads_them_back_for_meta(stack: Stack, bucket: Any) -> None:
    photo = png(16, 16, (250, 200, 0))
    answer = stack.http.post(
        f"/api/conversations/{stack.tenant.chats['whatsapp']}/messages",
        files=[("file", ("terrace.png", photo, "image/png"))],
    )
    assert answer.status_code == 202, answer.text
    message_id = answer.json()["id"]
    row = stack.settled(message_id, "sent", "delivered", "read")
    assert _object(bucket, stack.tenant, row["media"]["storage_key"]) == photo
    # The sender read the file from S3 and uploaded it: Meta's id is on the row and the message.
    at_meta = stack.sent()[row["external_message_id"]]
    assert row["media"]["meta_id"] == at_meta["media"]["id"]
    link = stack.http.get(f"/api/media/{message_id}", follow_redirects=False).headers["location"]
    assert httpx.get(link).content == photo
