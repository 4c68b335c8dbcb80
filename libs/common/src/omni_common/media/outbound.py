"""Which files each platform takes, checked before anything is uploaded (the file's real type comes
from its bytes, ``media.sniff``).

WhatsApp Cloud API, "Supported media types": image JPEG/PNG 5 MB; video MP4/3GPP 16 MB; audio
AAC/AMR/MP3/MP4/OGG-Opus 16 MB; document (PDF, Office, text) 100 MB; sticker WebP 100 KB (500 KB
animated). https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#supported-media-types
Messenger and Instagram (Send API / Attachment Upload API): 25 MB per asset; Instagram images 8 MB;
Instagram takes PDF as its only file type.
https://developers.facebook.com/docs/messenger-platform/send-messages/saving-assets ,
https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api
"""

from __future__ import annotations

from dataclasses import dataclass

from omni_common.domain.channels import channel_name
from omni_common.errors import OmniError
from omni_common.media.sniff import is_animated_webp, is_opus, sniff

KB = 1024
MB = 1024 * KB

PDF = "application/pdf"
_OFFICE = (
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
)
ANIMATED_STICKER_MAX = 500 * KB


@dataclass(frozen=True)
class FileRule:
    """How a platform takes one MIME type: as which kind of message, and up to what size."""

    kind: str  # image | video | audio | document | sticker (the message kind we store)
    max_bytes: int


def _rules(kind: str, max_bytes: int, *mimes: str) -> dict[str, FileRule]:
    return {mime: FileRule(kind, max_bytes) for mime in mimes}


RULES: dict[str, dict[str, FileRule]] = {
    "whatsapp": {
        **_rules("image", 5 * MB, "image/jpeg", "image/png"),
        **_rules("video", 16 * MB, "video/mp4", "video/3gpp"),
        **_rules("audio", 16 * MB, "audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"),
        **_rules("document", 100 * MB, PDF, "text/plain", *_OFFICE),
        **_rules("sticker", 100 * KB, "image/webp"),
    },
    "facebook": {
        **_rules("image", 25 * MB, "image/jpeg", "image/png", "image/gif"),
        **_rules("video", 25 * MB, "video/mp4", "video/quicktime", "video/3gpp"),
        **_rules("audio", 25 * MB, "audio/mpeg", "audio/mp4", "audio/aac", "audio/x-wav", "audio/ogg"),
        **_rules("document", 25 * MB, PDF, "text/plain", *_OFFICE),
    },
    "instagram": {
        **_rules("image", 8 * MB, "image/jpeg", "image/png", "image/gif"),
        **_rules("video", 25 * MB, "video/mp4", "video/quicktime", "video/webm", "video/x-msvideo"),
        **_rules("audio", 25 * MB, "audio/aac", "audio/mp4", "audio/x-wav"),
        **_rules("document", 25 * MB, PDF),
    },
}

# What an owner reads for each kind of file, per platform.
_WORDS: dict[str, dict[str, str]] = {
    "whatsapp": {
        "image": "photos as JPEG or PNG up to 5 MB",
        "video": "videos as MP4 or 3GP up to 16 MB",
        "audio": "audio as AAC, AMR, MP3, M4A or OGG (Opus) up to 16 MB",
        "document": "documents (PDF, Word, Excel, PowerPoint, text) up to 100 MB",
        "sticker": "stickers as WebP up to 100 KB (500 KB animated)",
    },
    "facebook": {
        "image": "photos as JPEG, PNG or GIF up to 25 MB",
        "video": "videos as MP4, MOV or 3GP up to 25 MB",
        "audio": "audio as MP3, M4A, AAC, WAV or OGG up to 25 MB",
        "document": "documents (PDF, Word, Excel, PowerPoint, text) up to 25 MB",
    },
    "instagram": {
        "image": "photos as JPEG, PNG or GIF up to 8 MB",
        "video": "videos as MP4, MOV, WebM or AVI up to 25 MB",
        "audio": "audio as AAC, M4A or WAV up to 25 MB",
        "document": "PDF documents up to 25 MB",
    },
}


class FileRefused(OmniError):
    """A file the conversation's platform would refuse; the message says why in plain words."""

    reason = "file_refused"
    field = "file"


@dataclass(frozen=True)
class CheckedFile:
    """A file a platform takes: the kind of message it goes as, its real type and size."""

    kind: str
    mime_type: str
    size: int
    filename: str


def accepted(channel: str) -> str:
    """Every kind of file the platform takes, in plain words (for a hint or a refusal)."""
    return "; ".join(_WORDS.get(channel, {}).values())


def max_upload_bytes(channel: str) -> int:
    """The largest file the platform takes at all (requests over it are refused unread)."""
    return max((r.max_bytes for r in RULES.get(channel, {}).values()), default=0)


def _size(n: int) -> str:
    return f"{n / MB:.0f} MB" if n >= MB else f"{max(1, round(n / KB))} KB"


def check_file(channel: str, content: bytes, filename: str) -> CheckedFile:
    """The file as it will be sent; ``FileRefused`` (plain words) when the platform would refuse it."""
    name = channel_name(channel)
    rules = RULES.get(channel)
    if rules is None:
        raise FileRefused(f"files cannot be sent on {name}")
    if not content:
        raise FileRefused("the file is empty")
    mime = sniff(content, filename)
    rule = rules.get(mime) if mime is not None else None
    if mime is None or rule is None:
        what = f"a {mime} file" if mime else "a file of a type we cannot recognise"
        raise FileRefused(
            f"{filename or 'this file'} is {what} (checked from its contents, not its name); "
            f"{name} takes {accepted(channel)}"
        )
    limit = rule.max_bytes
    if mime == "audio/ogg" and channel == "whatsapp" and not is_opus(content):
        raise FileRefused("WhatsApp takes OGG audio only with the Opus codec; send it as MP3 or M4A")
    if mime == "image/webp" and channel == "whatsapp" and is_animated_webp(content):
        limit = ANIMATED_STICKER_MAX
    if len(content) > limit:
        raise FileRefused(
            f"{filename or 'this file'} is {_size(len(content))}; {name} takes {_WORDS[channel][rule.kind]}"
        )
    return CheckedFile(rule.kind, mime, len(content), filename)


def client_rules(channel: str) -> dict[str, object]:
    """The limits as the composer's script checks them before uploading (the server checks again)."""
    rules = RULES.get(channel, {})
    return {
        "channel": channel_name(channel),
        "types": {mime: rule.max_bytes for mime, rule in rules.items()},
        "max": max_upload_bytes(channel),
        "accepted": accepted(channel),
    }
