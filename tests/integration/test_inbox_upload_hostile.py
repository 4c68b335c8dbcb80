"""Hostile file uploads to the reply route: wrong types behind right extensions, zero bytes, names
with path separators, decompression bombs.

What the inbox does with a file: its type is read from its first bytes (``omni_common.media.sniff``,
magic numbers, never the name), its size is checked, and it is stored under a key of our own
(``out-<uuid>.<ext>`` in the tenant's folder) and sent to Meta as is. Nothing decodes an image or
inflates an archive on this side, so a bomb costs what its bytes cost: these tests show it is stored
byte for byte, at once, and that a refused file leaves no row and no stored file behind.
"""

from __future__ import annotations

import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from psycopg.rows import dict_row
from sample_files import EXE, JPEG, PDF, png

from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("upload-media")


@pytest.fixture(scope="module")
def app_settings(settings: Settings, media_dir: Path) -> Settings:
    return settings.model_copy(update={"media_storage": str(media_dir)})


@pytest.fixture(scope="module")
def tenant(app_settings: Settings) -> SeededTenant:
    return seed(app_settings, f"upload-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def http(app_settings: Settings, tenant: SeededTenant) -> Iterator[httpx.Client]:
    with running_inbox(app_settings, declare=True) as url, httpx.Client(base_url=url, timeout=30) as client:
        answer = client.post(
            "/api/auth/login",
            json={"tenant": tenant.slug, "email": tenant.users["business_owner"], "password": PASSWORD},
        )
        client.cookies.clear()
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        yield client


def _rows(settings: Settings, tenant: SeededTenant) -> list[dict[str, Any]]:
    with psycopg.connect(
        libpq_conninfo(settings.database_url, database=tenant.db_name), row_factory=dict_row
    ) as conn:
        return conn.execute(
            "SELECT id, kind, media FROM chat_messages WHERE direction = 'outbound'"
        ).fetchall()


def _stored_files(media_dir: Path) -> set[Path]:
    return {p for p in media_dir.rglob("*") if p.is_file()}


def _upload(http: httpx.Client, tenant: SeededTenant, name: str, content: bytes) -> httpx.Response:
    chat = tenant.chats["whatsapp"]
    return http.post(f"/api/conversations/{chat}/messages", files={"file": (name, content, "image/png")})


def png_bomb(side: int = 20_000) -> bytes:
    """A valid PNG of ``side`` x ``side`` one-bit pixels, all zero: ~50 KB that decode to 400 million
    pixels (Pillow's own bomb limit is 179 million)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\x00" * ((side + 7) // 8)  # filter byte + packed pixels
    squeezer = zlib.compressobj(9)
    idat = b"".join(squeezer.compress(row) for _ in range(side)) + squeezer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("menu.pdf", b"", "empty"),
        ("photo.jpg", EXE, "checked from its contents"),
        ("photo.png", b"\x7fELF\x02\x01\x01" + b"\x00" * 64, "checked from its contents"),
        ("menu.pdf", b"PK\x03\x04" + b"\x00" * 64, "checked from its contents"),  # a zip, not a PDF
    ],
    ids=["zero-bytes", "exe-as-jpg", "elf-as-png", "zip-as-pdf"],
)
def test_refused_files_leave_no_row_and_no_stored_file(
    http: httpx.Client,
    tenant: SeededTenant,
    app_settings: Settings,
    media_dir: Path,
    name: str,
    content: bytes,
    words: str,
) -> None:
    rows, files = _rows(app_settings, tenant), _stored_files(media_dir)
    answer = _upload(http, tenant, name, content)
    assert answer.status_code == 422, answer.text
    assert words in answer.json()["detail"]
    assert _rows(app_settings, tenant) == rows
    assert _stored_files(media_dir) == files


@pytest.mark.parametrize(
    ("name", "content", "mime"),
    [
        ("menu.pdf", png(), "image/png"),  # a right-looking name does not decide the type
        ("photo.png", JPEG, "image/jpeg"),
        ("photo.jpg", PDF, "application/pdf"),
    ],
    ids=["png-as-pdf", "jpeg-as-png", "pdf-as-jpg"],
)
def test_the_type_comes_from_the_bytes_not_the_name(
    http: httpx.Client, tenant: SeededTenant, app_settings: Settings, name: str, content: bytes, mime: str
) -> None:
    answer = _upload(http, tenant, name, content)
    assert answer.status_code == 202, answer.text
    row = next(r for r in _rows(app_settings, tenant) if str(r["id"]) == answer.json()["id"])
    assert row["media"]["mime_type"] == mime


@pytest.mark.parametrize(
    "name",
    [
        "../../../../etc/cron.d/evil.png",
        "..\\..\\..\\Windows\\win.ini.png",
        "/var/lib/omni/media/other-tenant/out-1.png",
        "C:\\temp\\..\\x.png",
        "./.././\u202egnp.exe",  # a right-to-left override and dots
        "na\x00me\r\n.png",
    ],
)
def test_names_with_path_separators_never_leave_the_tenant_folder(
    http: httpx.Client, tenant: SeededTenant, app_settings: Settings, media_dir: Path, name: str
) -> None:
    content = png(rgb=(uuid.uuid4().int % 256, 1, 2))
    answer = _upload(http, tenant, name, content)
    assert answer.status_code == 202, answer.text
    row = next(r for r in _rows(app_settings, tenant) if str(r["id"]) == answer.json()["id"])
    shown = row["media"]["filename"]
    assert "/" not in shown
    assert "\\" not in shown
    assert not any(ord(c) < 32 for c in shown)
    assert shown not in ("", ".", "..")
    key = row["media"]["storage_key"]
    stored = (media_dir / str(tenant.id) / key).resolve()
    assert stored.is_relative_to((media_dir / str(tenant.id)).resolve())
    assert stored.read_bytes() == content
    assert key.startswith("out-")  # our own key, never the posted name
    assert not Path("/etc/cron.d/evil.png").exists()


def test_a_decompression_bomb_image_is_stored_as_bytes_and_never_decoded(
    http: httpx.Client, tenant: SeededTenant, app_settings: Settings, media_dir: Path
) -> None:
    bomb = png_bomb()
    assert len(bomb) < 200_000  # small on the wire: 400 million pixels once decoded
    started = time.monotonic()
    answer = _upload(http, tenant, "menu.png", bomb)
    took = time.monotonic() - started
    assert answer.status_code == 202, answer.text
    row = next(r for r in _rows(app_settings, tenant) if str(r["id"]) == answer.json()["id"])
    assert row["media"]["mime_type"] == "image/png"
    assert (media_dir / str(tenant.id) / row["media"]["storage_key"]).read_bytes() == bomb
    # Decoding 400 million pixels would take seconds and hundreds of MB; sniffing takes nothing.
    assert took < 5, took
