"""What a file really is, from its bytes (never its name), and Meta's media limits per type.

Meta checks an upload's declared type against its content: "mismatched MIME type (131053) is a common
error. We recommend that you inspect your media files to verify their MIME type" — with ``file -I``.
https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#supported-media-types
The magic-number matching is the ``filetype`` library's; this module only adds what it leaves out:
the ISO-BMFF brand (3GPP and M4A share MP4's ``ftyp`` box), legacy Office (OLE) files, plain text,
animated WebP stickers and OGG's Opus codec.
"""

from __future__ import annotations

from dataclasses import dataclass

import filetype

MB = 1024 * 1024
KB = 1024

OLE = "application/x-ole-storage"  # .doc / .xls / .ppt share one container
_LEGACY_OFFICE = frozenset(
    {"application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"}
)
_OOXML = frozenset(
    {
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    }
)


@dataclass(frozen=True)
class MediaRule:
    """How WhatsApp accepts one MIME type: which message type carries it, and its size limit."""

    kind: str  # image | video | audio | document | sticker
    max_bytes: int


# WhatsApp Cloud API, "Supported media types" (media reference page, linked above).
WHATSAPP_TYPES: dict[str, MediaRule] = {
    "audio/aac": MediaRule("audio", 16 * MB),
    "audio/amr": MediaRule("audio", 16 * MB),
    "audio/mpeg": MediaRule("audio", 16 * MB),
    "audio/mp4": MediaRule("audio", 16 * MB),
    "audio/ogg": MediaRule("audio", 16 * MB),  # OPUS codec only
    "text/plain": MediaRule("document", 100 * MB),
    "application/pdf": MediaRule("document", 100 * MB),
    "application/msword": MediaRule("document", 100 * MB),
    "application/vnd.ms-excel": MediaRule("document", 100 * MB),
    "application/vnd.ms-powerpoint": MediaRule("document", 100 * MB),
    **{mime: MediaRule("document", 100 * MB) for mime in _OOXML},
    "image/jpeg": MediaRule("image", 5 * MB),
    "image/png": MediaRule("image", 5 * MB),
    "image/webp": MediaRule("sticker", 100 * KB),  # animated stickers: 500 KB
    "video/3gpp": MediaRule("video", 16 * MB),
    "video/mp4": MediaRule("video", 16 * MB),
}
ANIMATED_STICKER_MAX = 500 * KB


def sniff(content: bytes) -> str | None:
    """The MIME type the content shows, or None when nothing matches."""
    kind = filetype.guess(content)
    if kind is not None:
        mime: str = kind.mime
        if content[4:8] == b"ftyp":  # ISO base media file: the major brand names the flavour
            brand = content[8:12]
            if brand.startswith(b"3gp"):
                return "video/3gpp"
            if brand in (b"M4A ", b"M4B "):
                return "audio/mp4"
        return mime
    if content.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return OLE
    if _looks_like_text(content):
        return "text/plain"
    return None


def matches(declared: str, content: bytes) -> bool:
    """True when the content is what ``declared`` says."""
    found = sniff(content)
    if found == declared:
        return declared != "audio/ogg" or b"OpusHead" in content[:128]
    if declared in _LEGACY_OFFICE:
        return found == OLE
    if declared in _OOXML:
        return found == "application/zip"  # a minimal OOXML file may show only its zip container
    return False


def is_animated_webp(content: bytes) -> bool:
    """True for an extended WebP (``VP8X``) with the animation flag set."""
    return content[12:16] == b"VP8X" and len(content) > 20 and bool(content[20] & 0x02)


def _looks_like_text(content: bytes) -> bool:
    if b"\x00" in content[:4096]:
        return False
    try:
        content[:4096].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > 4090  # a multi-byte character cut at the sample's end
    return True
