"""Photos and files out over real sockets: checked from their bytes before anything is stored, kept
in the tenant's media storage, uploaded to Meta once (WhatsApp media, Messenger/Instagram attachment
upload API) and sent by id, each its own message; a failed send is sent again without uploading again."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from inbox_support import SeededTenant, seed
from sample_files import EXE, MB, PDF, mp4, png
from templates_support import Stack, full_stack

from omni_common.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"files-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def stack(
    settings: Settings, tenant: SeededTenant, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with full_stack(settings, tenant, tmp_path_factory.mktemp("media")) as s:
        yield s


def post_files(
    stack: Stack, channel: str, files: list[tuple[str, bytes, str]], text: str | None = None
) -> object:
    data = {"text": text} if text is not None else {}
    return stack.http.post(
        f"/api/conversations/{stack.tenant.chats[channel]}/messages",
        files=[("file", f) for f in files],
        data=data,
    )


def count(stack: Stack, channel: str) -> int:
    return int(
        stack.query(
            "SELECT count(*) AS n FROM chat_messages WHERE chat_id = %s", (stack.tenant.chats[channel],)
        )[0]["n"]
    )


def test_a_photo_with_a_caption_goes_to_whatsapp_uploaded_then_sent_by_id(stack: Stack) -> None:
    photo = png(16, 16)
    answer = post_files(stack, "whatsapp", [("special.png", photo, "image/png")], text="Tonight's special")
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["kind"], body["status"], body["text"]) == ("image", "queued", "Tonight's special")
    assert body["attachments"] == [
        {
            "url": f"/api/media/{body['id']}",
            "mime_type": "image/png",
            "filename": "special.png",
            "size": len(photo),
            "kind": "image",
        }
    ]
    row = stack.settled(body["id"], "sent", "delivered", "read")
    at_meta = stack.sent()[row["external_message_id"]]
    assert at_meta["type"] == "image"
    assert at_meta["media"]["caption"] == "Tonight's special"
    uploads = stack.graph_requests("/media")
    assert [u for u in uploads if u.get("upload")], "the sandbox recorded the upload"
    assert row["media"]["meta_id"] == at_meta["media"]["id"]
    kept = stack.http.get(f"/api/media/{body['id']}")
    assert kept.status_code == 200
    assert kept.content == photo  # the tenant's own copy, same storage as inbound media


def test_a_pdf_keeps_its_name_and_several_files_go_one_message_each(stack: Stack) -> None:
    answer = post_files(
        stack,
        "whatsapp",
        [("Menu (winter).pdf", PDF, "application/pdf"), ("terrace.png", png(), "image/png")],
    )
    assert answer.status_code == 202, answer.text
    messages = answer.json()["messages"]
    assert [m["kind"] for m in messages] == ["document", "image"]
    rows = [stack.settled(m["id"], "sent", "delivered", "read") for m in messages]
    sent = stack.sent()
    assert sent[rows[0]["external_message_id"]]["media"]["filename"] == "Menu (winter).pdf"
    assert sent[rows[1]["external_message_id"]]["type"] == "image"


@pytest.mark.parametrize(
    ("name", "content", "mime", "words"),
    [
        ("photo.jpg", EXE, "image/jpeg", "application/x-msdownload"),
        ("clip.mp4", mp4(17 * MB), "video/mp4", "16 MB"),
        ("empty.pdf", b"", "application/pdf", "empty"),
    ],
)
def test_files_the_platform_would_refuse_are_refused_and_nothing_is_kept(
    stack: Stack, name: str, content: bytes, mime: str, words: str
) -> None:
    before = count(stack, "whatsapp")
    refused = post_files(stack, "whatsapp", [("ok.pdf", PDF, "application/pdf"), (name, content, mime)])
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "file"
    assert words in refused.json()["detail"]
    assert count(stack, "whatsapp") == before  # not even the good file: nothing half-sent


def test_a_200_mb_video_is_refused_before_it_is_read(stack: Stack) -> None:
    """The request says its size up front; the server answers without reading the body."""
    url = urlparse(stack.inbox)
    chat = stack.tenant.chats["whatsapp"]
    boundary = "x-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="party.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    request = (
        (
            f"POST /api/conversations/{chat}/messages HTTP/1.1\r\nHost: {url.hostname}\r\n"
            f"Authorization: {stack.http.headers['Authorization']}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {200 * MB}\r\nConnection: close\r\n\r\n"
        ).encode()
        + head
        + mp4(64 * 1024)
    )
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while b'"field"' not in answer:  # the JSON answer, then the server closes
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert b" 422 " in status_line, answer[:300]
    assert b"200 MB" in answer
    assert b'"field":"file"' in answer


def test_messenger_files_go_through_the_attachment_upload_api_and_the_caption_as_text(stack: Stack) -> None:
    answer = post_files(stack, "facebook", [("menu.pdf", PDF, "application/pdf")], text="Our menu")
    assert answer.status_code == 202, answer.text
    file_msg, caption = answer.json()["messages"]
    assert (file_msg["kind"], caption["kind"], caption["text"]) == ("document", "text", "Our menu")
    row = stack.settled(file_msg["id"], "sent", "delivered", "read")
    stack.settled(caption["id"], "sent", "delivered", "read")
    at_meta = stack.sent()[row["external_message_id"]]
    assert at_meta["type"] == "file"
    assert at_meta["attachment"]["attachment_id"] == row["media"]["meta_id"]
    assert stack.graph_requests("message_attachments")


def test_messenger_takes_25_mb_at_most(stack: Stack) -> None:
    refused = post_files(stack, "facebook", [("big.pdf", PDF + b"0" * (25 * MB), "application/pdf")])
    assert refused.status_code == 422
    assert "25 MB" in refused.json()["detail"]


def test_instagram_takes_no_word_documents(stack: Stack) -> None:
    from sample_files import docx

    refused = post_files(stack, "instagram", [("menu.docx", docx(), "application/octet-stream")])
    assert refused.status_code == 422
    assert "PDF" in refused.json()["detail"]


def test_a_failed_send_is_sent_again_without_uploading_again(stack: Stack) -> None:
    account = stack.tenant.account_ids["whatsapp"]
    # Meta accepts the upload, then refuses the send once: the customer is not reachable right now.
    stack.sandbox(
        "POST",
        "/faults",
        json={"error_code": 131026, "match": {"account_id": account, "method": "POST"}, "count": 1},
    )
    photo = png(12, 12, (10, 120, 200))
    answer = post_files(stack, "whatsapp", [("retry.png", photo, "image/png")])
    assert answer.status_code == 202
    message_id = answer.json()["id"]
    uploads_before = len([u for u in stack.graph_requests("/media") if u.get("upload")])
    failed = stack.settled(message_id, "failed")
    assert failed["error_code"] == "131026"
    assert failed["media"]["meta_id"]
    again = stack.http.post(
        f"/api/conversations/{stack.tenant.chats['whatsapp']}/messages/{message_id}/retry"
    )
    assert again.status_code == 202, again.text
    row = stack.settled(message_id, "sent", "delivered", "read")
    assert row["media"]["meta_id"] == failed["media"]["meta_id"]
    uploads_after = len([u for u in stack.graph_requests("/media") if u.get("upload")])
    assert uploads_after == uploads_before  # sent by the same media id: no second upload
    not_again = stack.http.post(
        f"/api/conversations/{stack.tenant.chats['whatsapp']}/messages/{message_id}/retry"
    )
    assert not_again.status_code == 409


def test_files_follow_the_window(stack: Stack) -> None:
    stack.stale("instagram", hours=30)
    refused = post_files(stack, "instagram", [("dish.png", png(), "image/png")])
    assert refused.status_code == 409
    assert refused.json()["reason"] == "window_closed"
