"""What a file really is, from its bytes (never its name or the browser's guess).

Meta checks an upload's declared type against its content ("mismatched MIME type (131053)"), and an
``.exe`` renamed ``.jpg`` must be refused before anything leaves this machine. The magic-number
matching is the ``filetype`` library's; this module adds what it leaves out: the ISO-BMFF brand
(3GPP and M4A share MP4's ``ftyp`` box), legacy Office (OLE) files, Office Open XML inside its zip,
plain text, animated WebP and OGG's Opus codec.
"""

from __future__ import annotations

import filetype

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .doc / .xls / .ppt share one container
_OOXML_PARTS = {
    b"word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    b"xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    b"ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_OLE_BY_EXTENSION = {
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
}
_TEXT_SAMPLE = 4096


def sniff(content: bytes, filename: str | None = None) -> str | None:
    """The MIME type the content shows, or None when nothing matches.

    ``filename`` only tells apart formats whose bytes are the same container (a legacy ``.xls`` and
    ``.doc`` are both OLE files); it never makes bytes into something they are not.
    """
    kind = filetype.guess(content[:8192])
    if kind is not None:
        mime: str = kind.mime
        if content[4:8] == b"ftyp":  # ISO base media file: the major brand names the flavour
            brand = content[8:12]
            if brand.startswith(b"3gp"):
                return "video/3gpp"
            if brand in (b"M4A ", b"M4B "):
                return "audio/mp4"
        if mime == "application/zip":
            return _ooxml(content) or mime
        return mime
    if content.startswith(OLE_MAGIC):
        ext = (filename or "").rsplit(".", 1)[-1].lower()
        return _OLE_BY_EXTENSION.get(ext, "application/x-ole-storage")
    if _looks_like_text(content):
        return "text/plain"
    return None


def is_opus(content: bytes) -> bool:
    """An OGG file carrying Opus (the only OGG audio WhatsApp takes)."""
    return b"OpusHead" in content[:128]


def is_animated_webp(content: bytes) -> bool:
    """An extended WebP (``VP8X``) with the animation flag set."""
    return content[12:16] == b"VP8X" and len(content) > 20 and bool(content[20] & 0x02)


def _ooxml(content: bytes) -> str | None:
    # The first local file names of a .docx/.xlsx/.pptx name its main part's folder.
    head = content[:65536]
    for part, mime in _OOXML_PARTS.items():
        if part in head:
            return mime
    return None


def _looks_like_text(content: bytes) -> bool:
    if not content or b"\x00" in content[:_TEXT_SAMPLE]:
        return False
    try:
        content[:_TEXT_SAMPLE].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > _TEXT_SAMPLE - 4  # a multi-byte character cut at the sample's end
    return True
