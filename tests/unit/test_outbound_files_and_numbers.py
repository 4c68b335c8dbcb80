"""What each platform takes, decided from a file's bytes (never its name), and phone numbers typed
any way turned into E.164 (``omni_common.media.outbound``, ``omni_common.domain.phones``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sample_files import EXE, GIF, JPEG, MB, OGG_OPUS, OGG_VORBIS, PDF, docx, mp4, png, webp

from omni_common.domain.phones import NotAPhoneNumber, region_of, to_e164
from omni_common.media.outbound import FileRefused, check_file, client_rules, max_upload_bytes
from omni_common.media.sniff import sniff


@pytest.mark.parametrize(
    ("channel", "content", "name", "kind", "mime"),
    [
        ("whatsapp", JPEG, "dish.jpg", "image", "image/jpeg"),
        ("whatsapp", png(), "dish.png", "image", "image/png"),
        ("whatsapp", PDF, "menu.pdf", "document", "application/pdf"),
        (
            "whatsapp",
            docx(),
            "menu.docx",
            "document",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("whatsapp", mp4(2 * MB), "clip.mp4", "video", "video/mp4"),
        ("whatsapp", OGG_OPUS, "voice.ogg", "audio", "audio/ogg"),
        ("whatsapp", webp(False, 90 * 1024), "s.webp", "sticker", "image/webp"),
        ("whatsapp", webp(True, 400 * 1024), "s.webp", "sticker", "image/webp"),
        ("facebook", GIF, "fun.gif", "image", "image/gif"),
        ("facebook", PDF, "menu.pdf", "document", "application/pdf"),
        ("instagram", PDF, "menu.pdf", "document", "application/pdf"),
        ("whatsapp", b"Menu of the day\nSoup\n", "menu", "document", "text/plain"),
    ],
)
def test_files_the_platform_takes(channel: str, content: bytes, name: str, kind: str, mime: str) -> None:
    checked = check_file(channel, content, name)
    assert (checked.kind, checked.mime_type, checked.size) == (kind, mime, len(content))


@pytest.mark.parametrize(
    ("channel", "content", "name", "words"),
    [
        ("whatsapp", EXE, "photo.jpg", "application/x-msdownload"),  # an .exe renamed .jpg
        ("whatsapp", GIF, "fun.gif", "JPEG or PNG"),
        ("whatsapp", JPEG + b"\x00" * (5 * MB), "big.jpg", "5 MB"),
        ("whatsapp", mp4(16 * MB + 1), "clip.mp4", "16 MB"),
        ("whatsapp", OGG_VORBIS, "voice.ogg", "Opus"),
        ("whatsapp", webp(False, 120 * 1024), "s.webp", "100 KB"),
        ("facebook", PDF + b"0" * (25 * MB), "menu.pdf", "25 MB"),
        ("instagram", docx(), "menu.docx", "PDF documents"),
        ("instagram", JPEG + b"\x00" * (8 * MB), "big.jpg", "8 MB"),
        ("whatsapp", b"", "empty.pdf", "empty"),
        ("whatsapp", b"\x00\x01\x02\x03" * 64, "blob.bin", "cannot recognise"),
    ],
)
def test_files_refused_before_any_upload_in_plain_words(
    channel: str, content: bytes, name: str, words: str
) -> None:
    with pytest.raises(FileRefused, match=words):
        check_file(channel, content, name)


def test_the_name_never_makes_bytes_into_something_else() -> None:
    assert sniff(EXE, "photo.jpg") == "application/x-msdownload"
    assert sniff(JPEG, "malware.exe") == "image/jpeg"


def test_the_composer_gets_the_same_limits() -> None:
    rules = client_rules("whatsapp")
    assert rules["types"]["image/jpeg"] == 5 * MB
    assert rules["max"] == 100 * MB == max_upload_bytes("whatsapp")
    assert max_upload_bytes("facebook") == 25 * MB


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("+34 600 00 00 01", "+34600000001"),
        ("0034 600-000-001", "+34600000001"),
        ("34600000001", "+34600000001"),
        ("+1 (650) 555-1234", "+16505551234"),
        ("+49 151 1234 5678", "+4915112345678"),
        ("+44 7911 123456", "+447911123456"),
    ],
)
def test_numbers_typed_any_way_become_e164(typed: str, e164: str) -> None:
    assert to_e164(typed) == e164


@pytest.mark.parametrize("typed", ["", "call me", "+34 abc", "12", "+999 123 456", "+34 6000"])
def test_what_is_not_a_reachable_number_is_refused_in_words(typed: str) -> None:
    with pytest.raises(NotAPhoneNumber):
        to_e164(typed)


@given(st.text(max_size=40))
def test_any_input_is_a_number_or_a_plain_refusal(typed: str) -> None:
    problem: str | None = None
    try:
        result = to_e164(typed)
    except NotAPhoneNumber as exc:
        problem, result = str(exc), "+0"
    if problem is not None:
        assert problem
    else:
        assert result.startswith("+")
        assert result[1:].isdigit()


def test_region_of_a_number() -> None:
    assert region_of("34600000001") == "ES"
    assert region_of("+4915112345678") == "DE"
    assert region_of("0") is None
