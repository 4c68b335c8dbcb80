"""Media in the Meta sandbox over a real socket: WhatsApp uploads and media sends, the Messenger and
Instagram attachment upload API, attachment sends by id and by url (fetched by the sandbox)."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import Response
from sandbox_server import SandboxControl, serve

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + b"\x00" * 64
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"0" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64
OGG_VORBIS = b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x1e\x01vorbis" + b"\x00" * 64
OGG_OPUS = b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x13OpusHead" + b"\x00" * 64
MB = 1024 * 1024


@pytest.fixture
def http_timeout() -> httpx.Timeout:
    return httpx.Timeout(20.0)


def _webp(animated: bool, size: int) -> bytes:
    flags = 0x02 if animated else 0x00
    head = b"RIFF" + struct.pack("<I", size - 8) + b"WEBPVP8X" + struct.pack("<I", 10) + bytes([flags])
    return head + b"\x00" * (size - len(head))


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


FILES = {"/menu.jpg": (JPEG, "image/jpeg"), "/big.jpg": (JPEG + b"\x00" * (9 * MB), "image/jpeg")}
FILES["/menu.txt"] = (b"just text", "text/plain")


@pytest.fixture(scope="module")
def files() -> Iterator[str]:
    """A tiny web server the sandbox fetches attachment urls from."""
    app = FastAPI()

    @app.get("/{name}")
    async def serve_file(name: str) -> Response:
        if f"/{name}" not in FILES:
            return Response(status_code=404)
        content, mime = FILES[f"/{name}"]
        return Response(content, media_type=mime)

    with serve(app) as url:
        yield url


async def _upload(
    ctl: SandboxControl, account_id: str, token: str, content: bytes, mime: str, name: str = "file.bin"
) -> httpx.Response:
    return await ctl.http.post(
        f"{ctl.graph_url}/{account_id}/media",
        data={"messaging_product": "whatsapp", "type": mime},
        files={"file": (name, content, mime)},
        headers={"Authorization": f"Bearer {token}"},
    )


def _error(response: httpx.Response) -> tuple[int, int | None, str]:
    error = response.json()["error"]
    return (
        error["code"],
        error.get("error_subcode"),
        error.get("error_data", {}).get("details", error["message"]),
    )


class TestWhatsAppUpload:
    @pytest.mark.parametrize(
        ("content", "mime"),
        [
            (JPEG, "image/jpeg"),
            (PNG, "image/png"),
            (PDF, "application/pdf"),
            (_docx(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            (OGG_OPUS, "audio/ogg"),
            (_webp(animated=False, size=90 * 1024), "image/webp"),
            (_webp(animated=True, size=400 * 1024), "image/webp"),
        ],
    )
    async def test_accepted_upload_gives_an_id_that_resolves(
        self, ctl: SandboxControl, content: bytes, mime: str
    ) -> None:
        account_id, token = await ctl.add_account("whatsapp")
        response = await _upload(ctl, account_id, token, content, mime)
        assert response.status_code == 200, response.text
        media_id = response.json()["id"]
        assert set(response.json()) == {"id"}
        info = await ctl.http.get(f"{ctl.graph_url}/{media_id}", headers={"Authorization": f"Bearer {token}"})
        assert (info.json()["mime_type"], info.json()["file_size"]) == (mime, len(content))

    @pytest.mark.parametrize(
        ("content", "mime", "name", "code", "details"),
        [
            # the bytes decide, not the name: an .exe called .jpg is refused
            (EXE, "image/jpeg", "photo.jpg", 131053, "application/x-msdownload, not the declared image/jpeg"),
            (PNG, "image/jpeg", "photo.jpg", 131053, "not the declared image/jpeg"),
            (OGG_VORBIS, "audio/ogg", "voice.ogg", 131053, "not the declared audio/ogg"),
            (JPEG + b"\x00" * (5 * MB), "image/jpeg", "big.jpg", 131053, "may be at most 5242880 bytes"),
            (_webp(animated=False, size=101 * 1024), "image/webp", "s.webp", 131053, "at most 102400 bytes"),
            (_webp(animated=True, size=501 * 1024), "image/webp", "s.webp", 131053, "at most 512000 bytes"),
            (b"GIF89a" + b"\x00" * 32, "image/gif", "a.gif", 100, "Received file of type 'image/gif'"),
        ],
    )
    async def test_refused_upload_names_the_reason(
        self, ctl: SandboxControl, content: bytes, mime: str, name: str, code: int, details: str
    ) -> None:
        account_id, token = await ctl.add_account("whatsapp")
        response = await _upload(ctl, account_id, token, content, mime, name)
        assert response.status_code == 400
        got_code, _, got_details = _error(response)
        assert got_code == code
        assert details in got_details

    async def test_video_over_16_mb_is_refused(self, ctl: SandboxControl) -> None:
        account_id, token = await ctl.add_account("whatsapp")
        box = b"ftypisom\x00\x00\x02\x00isommp41"
        video = struct.pack(">I", len(box) + 4) + box + b"\x00" * (16 * MB)
        response = await _upload(ctl, account_id, token, video, "video/mp4", "clip.mp4")
        code, _, details = _error(response)
        assert (code, "16777216" in details) == (131053, True)

    async def test_upload_needs_messaging_product_and_file(self, ctl: SandboxControl) -> None:
        account_id, token = await ctl.add_account("whatsapp")
        auth = {"Authorization": f"Bearer {token}"}
        no_product = await ctl.http.post(
            f"{ctl.graph_url}/{account_id}/media", files={"file": ("a.jpg", JPEG, "image/jpeg")}, headers=auth
        )
        assert _error(no_product)[0] == 100
        no_file = await ctl.http.post(
            f"{ctl.graph_url}/{account_id}/media", data={"messaging_product": "whatsapp"}, headers=auth
        )
        assert _error(no_file)[0] == 100


class TestWhatsAppMediaSends:
    async def _send(
        self, ctl: SandboxControl, account_id: str, token: str, kind: str, media: dict
    ) -> httpx.Response:
        body = {"messaging_product": "whatsapp", "to": "34600111222", "type": kind, kind: media}
        return await ctl.http.post(
            f"{ctl.graph_url}/{account_id}/messages", json=body, headers={"Authorization": f"Bearer {token}"}
        )

    async def test_image_with_caption_and_document_with_filename_by_id(self, ctl: SandboxControl) -> None:
        account_id, token = await ctl.add_account("whatsapp")
        image_id = (await _upload(ctl, account_id, token, JPEG, "image/jpeg")).json()["id"]
        pdf_id = (await _upload(ctl, account_id, token, PDF, "application/pdf")).json()["id"]
        image = await self._send(
            ctl, account_id, token, "image", {"id": image_id, "caption": "Tonight's special"}
        )
        document = await self._send(
            ctl, account_id, token, "document", {"id": pdf_id, "filename": "menu.pdf"}
        )
        sent = await ctl.get("/sent")
        first = sent[image.json()["messages"][0]["id"]]
        assert (first["type"], first["text"], first["media"]["id"]) == (
            "image",
            "Tonight's special",
            image_id,
        )
        second = sent[document.json()["messages"][0]["id"]]
        assert (second["type"], second["media"]["filename"]) == ("document", "menu.pdf")

    @pytest.mark.parametrize(
        ("kind", "media", "code", "details"),
        [
            ("image", {"id": "12345"}, 100, "is not a valid whatsapp business account media attachment ID"),
            ("image", {"id": "PDF"}, 131053, "cannot be sent as image"),
            ("audio", {"id": "PDF", "caption": "x"}, 100, "not supported for audio"),
            ("image", {}, 100, "exactly one of id or link"),
        ],
    )
    async def test_media_send_refusals(
        self, ctl: SandboxControl, kind: str, media: dict, code: int, details: str
    ) -> None:
        account_id, token = await ctl.add_account("whatsapp")
        pdf_id = (await _upload(ctl, account_id, token, PDF, "application/pdf")).json()["id"]
        media = {k: (pdf_id if v == "PDF" else v) for k, v in media.items()}
        response = await self._send(ctl, account_id, token, kind, media)
        got_code, _, got_details = _error(response)
        assert got_code == code
        assert details in got_details

    async def test_media_of_another_waba_cannot_be_sent(self, ctl: SandboxControl) -> None:
        owner, owner_token = await ctl.add_account("whatsapp")
        other, other_token = await ctl.add_account("whatsapp")
        image_id = (await _upload(ctl, owner, owner_token, JPEG, "image/jpeg")).json()["id"]
        response = await self._send(ctl, other, other_token, "image", {"id": image_id})
        assert _error(response)[0] == 100


class TestAttachments:
    async def test_multipart_upload_then_send_by_attachment_id(self, ctl: SandboxControl) -> None:
        page_id, token = await ctl.add_account("facebook")
        response = await ctl.http.post(
            f"{ctl.graph_url}/me/message_attachments",
            data={"message": '{"attachment": {"type": "file", "payload": {"is_reusable": true}}}'},
            files={"filedata": ("menu.pdf", PDF, "application/pdf")},
            params={"access_token": token},
        )
        assert response.status_code == 200, response.text
        attachment_id = response.json()["attachment_id"]
        body = {
            "recipient": {"id": "PSID-1"},
            "messaging_type": "RESPONSE",
            "message": {"attachment": {"type": "file", "payload": {"attachment_id": attachment_id}}},
        }
        sent = await ctl.http.post(
            f"{ctl.graph_url}/{page_id}/messages", json=body, params={"access_token": token}
        )
        assert sent.status_code == 200, sent.text
        record = (await ctl.get("/sent"))[sent.json()["message_id"]]
        assert record["attachment"] == {
            "type": "file",
            "attachment_id": attachment_id,
            "mime_type": "application/pdf",
        }

    async def test_url_upload_with_the_token_in_the_json_body(self, ctl: SandboxControl, files: str) -> None:
        _, token = await ctl.add_account("instagram")
        body = {
            "access_token": token,  # Meta's example puts it here
            "message": {
                "attachment": {"type": "image", "payload": {"url": f"{files}/menu.jpg", "is_reusable": True}}
            },
        }
        response = await ctl.http.post(f"{ctl.graph_url}/me/message_attachments", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["attachment_id"]

    @pytest.mark.parametrize(
        ("kind", "path", "code", "subcode"),
        [
            ("image", "/missing.jpg", 100, 2018008),  # the url does not answer 200
            ("image", "/big.jpg", 100, 2018109),  # images from a url: 8 MB
            ("image", "/menu.txt", 546, None),  # not an image, whatever the type says
        ],
    )
    async def test_url_attachment_refusals(
        self, ctl: SandboxControl, files: str, kind: str, path: str, code: int, subcode: int | None
    ) -> None:
        page_id, token = await ctl.add_account("facebook")
        body = {
            "recipient": {"id": "PSID-2"},
            "messaging_type": "RESPONSE",
            "message": {"attachment": {"type": kind, "payload": {"url": f"{files}{path}"}}},
        }
        response = await ctl.http.post(
            f"{ctl.graph_url}/{page_id}/messages", json=body, params={"access_token": token}
        )
        got_code, got_subcode, _ = _error(response)
        assert (got_code, got_subcode) == (code, subcode)

    async def test_reusable_url_send_returns_an_attachment_id(self, ctl: SandboxControl, files: str) -> None:
        page_id, token = await ctl.add_account("facebook")
        payload = {"url": f"{files}/menu.jpg", "is_reusable": True}
        body = {
            "recipient": {"id": "PSID-3"},
            "messaging_type": "RESPONSE",
            "message": {"attachment": {"type": "image", "payload": payload}},
        }
        response = await ctl.http.post(
            f"{ctl.graph_url}/{page_id}/messages", json=body, params={"access_token": token}
        )
        assert response.status_code == 200, response.text
        assert response.json()["attachment_id"]

    async def test_filedata_over_25_mb_and_another_pages_attachment_are_refused(
        self, ctl: SandboxControl
    ) -> None:
        page_id, token = await ctl.add_account("facebook")
        _, other_token = await ctl.add_account("facebook")
        message = '{"attachment": {"type": "file", "payload": {"is_reusable": true}}}'
        too_big = await ctl.http.post(
            f"{ctl.graph_url}/me/message_attachments",
            data={"message": message},
            files={"filedata": ("big.pdf", PDF + b"0" * (25 * MB), "application/pdf")},
            params={"access_token": token},
        )
        assert _error(too_big)[:2] == (100, 2018109)
        theirs = await ctl.http.post(
            f"{ctl.graph_url}/me/message_attachments",
            data={"message": message},
            files={"filedata": ("menu.pdf", PDF, "application/pdf")},
            params={"access_token": other_token},
        )
        body = {
            "recipient": {"id": "PSID-4"},
            "messaging_type": "RESPONSE",
            "message": {
                "attachment": {"type": "file", "payload": {"attachment_id": theirs.json()["attachment_id"]}}
            },
        }
        response = await ctl.http.post(
            f"{ctl.graph_url}/{page_id}/messages", json=body, params={"access_token": token}
        )
        assert _error(response)[0] == 100
