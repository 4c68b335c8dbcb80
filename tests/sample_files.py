"""Small files with the right magic bytes for the file tests (unit, integration and browser)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

MB = 1024 * 1024
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64
OGG_VORBIS = b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x1e\x01vorbis" + b"\x00" * 64
OGG_OPUS = b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x13OpusHead" + b"\x00" * 64
GIF = b"GIF89a" + b"\x00" * 32


def png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    """A real PNG (a browser shows it): one colour, ``width`` x ``height``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def mp4(size: int) -> bytes:
    """An MP4 (``ftyp isom``) of ``size`` bytes."""
    box = b"ftypisom\x00\x00\x02\x00isommp41"
    head = struct.pack(">I", len(box) + 4) + box
    return head + b"\x00" * max(0, size - len(head))


def webp(animated: bool, size: int) -> bytes:
    flags = 0x02 if animated else 0x00
    head = b"RIFF" + struct.pack("<I", size - 8) + b"WEBPVP8X" + struct.pack("<I", 10) + bytes([flags])
    return head + b"\x00" * (size - len(head))


def docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()
