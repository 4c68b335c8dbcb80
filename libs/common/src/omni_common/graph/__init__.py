"""Meta Graph API client: payload building, calls, error classification, usage headers."""

from omni_common.graph.answers import AccountInfo, MediaInfo, SendResult, TokenInfo
from omni_common.graph.client import GraphClient
from omni_common.graph.errors import (
    ErrorClass,
    GraphError,
    PayloadError,
    TextTooLong,
    classify,
    plain_reason,
    plain_reason_for_code,
)
from omni_common.graph.payloads import (
    MEDIA_KINDS,
    REACTIONS,
    THREADED_REPLIES,
    MediaContent,
    TemplateContent,
    build_reaction_payload,
    build_send_payload,
    normalize_wa_recipient,
)
from omni_common.graph.usage import Usage, parse_usage

__all__ = [
    "MEDIA_KINDS",
    "REACTIONS",
    "THREADED_REPLIES",
    "AccountInfo",
    "ErrorClass",
    "GraphClient",
    "GraphError",
    "MediaContent",
    "MediaInfo",
    "PayloadError",
    "SendResult",
    "TemplateContent",
    "TextTooLong",
    "TokenInfo",
    "Usage",
    "build_reaction_payload",
    "build_send_payload",
    "classify",
    "normalize_wa_recipient",
    "parse_usage",
    "plain_reason",
    "plain_reason_for_code",
]
