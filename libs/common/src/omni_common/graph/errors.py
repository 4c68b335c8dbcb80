"""Graph API errors and their classification for the outbound sender.

    OmniError
     ├── GraphError          Meta answered with an error envelope, or the call failed on the network
     └── PayloadError        the message cannot be sent as built (checked before any call)
          └── TextTooLong    text over the channel's limit

``classify`` maps (code, subcode, HTTP status) to an ``ErrorClass``; callers branch on the class, never
on Meta's message text. Codes come from /work/shared/reference/meta-api.md §4.2.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from omni_common.errors import OmniError
from omni_common.graph.usage import Usage


class ErrorClass(StrEnum):
    """What the sender should do about a failed Graph call."""

    RATE_LIMIT = "rate_limit"  # back off the account; honour estimated_time_to_regain_access
    PAIR_RATE_LIMIT = "pair_rate_limit"  # back off this recipient only
    SPAM_LIMIT = "spam_limit"  # stop automated sends for the number, notify the owner
    TRANSIENT = "transient"  # retry with backoff; the request surely had no effect
    AUTH = "auth"  # token expired/invalid: pause the channel, owner must reconnect
    OUTSIDE_WINDOW = "outside_window"  # customer-service window closed: tell the agent
    RECIPIENT_UNAVAILABLE = "recipient_unavailable"  # blocked / not on the platform
    PERMISSION = "permission"  # missing permission: notify the owner
    BAD_REQUEST = "bad_request"  # our bug or bad data: alert developers
    ACCOUNT_BLOCKED = "account_blocked"  # account restricted by Meta: pause, notify the owner
    TEMPLATE = "template"  # the template (or its parameters) was refused: never retry, notify the owner
    MEDIA = "media"  # the file was refused (type, size, content): never retry, tell staff why
    AMBIGUOUS = "ambiguous"  # may have been sent: reconcile before any retry
    PERMANENT = "permanent"  # anything else: do not retry

    @property
    def retryable(self) -> bool:
        """True when a blind retry (with backoff) is safe and useful."""
        return self in _RETRYABLE


_RETRYABLE = frozenset({ErrorClass.RATE_LIMIT, ErrorClass.PAIR_RATE_LIMIT, ErrorClass.TRANSIENT})

# (code, subcode) pairs that override the class of their code.
_BY_PAIR: dict[tuple[int, int], ErrorClass] = {
    (1, 1357046): ErrorClass.AMBIGUOUS,  # Messenger "Received invalid JSON reply": may have been sent
    (10, 2018278): ErrorClass.OUTSIDE_WINDOW,
    (10, 2534022): ErrorClass.OUTSIDE_WINDOW,
    (10, 2018065): ErrorClass.OUTSIDE_WINDOW,
    (10, 2018108): ErrorClass.RECIPIENT_UNAVAILABLE,
    (200, 1545041): ErrorClass.RECIPIENT_UNAVAILABLE,
    (200, 2534041): ErrorClass.ACCOUNT_BLOCKED,
    (100, 2534029): ErrorClass.ACCOUNT_BLOCKED,
    (10, 1893063): ErrorClass.ACCOUNT_BLOCKED,
    (100, 2018109): ErrorClass.MEDIA,  # attachment size exceeds the allowed limit
}

_BY_CODE: dict[int, ErrorClass] = {
    **dict.fromkeys((4, 17, 32, 613, 341, 80001, 80002, 80006, 80007, 80008, 130429), ErrorClass.RATE_LIMIT),
    131056: ErrorClass.PAIR_RATE_LIMIT,
    131048: ErrorClass.SPAM_LIMIT,
    **dict.fromkeys((1, 2, 131000, 131016, 133004, 131057), ErrorClass.TRANSIENT),
    # 104 "an access token is required" is a credential problem too.
    **dict.fromkeys((190, 102, 104, 0), ErrorClass.AUTH),
    131047: ErrorClass.OUTSIDE_WINDOW,
    **dict.fromkeys((551, 131026), ErrorClass.RECIPIENT_UNAVAILABLE),
    **dict.fromkeys((10, 3, 131005, *range(200, 300)), ErrorClass.PERMISSION),
    **dict.fromkeys((100, 131008, 131009, 131021, 131051), ErrorClass.BAD_REQUEST),
    **dict.fromkeys((368, 131031, 130497, 131042, 131045, 131037), ErrorClass.ACCOUNT_BLOCKED),
    # Template errors (WhatsApp error codes page): 132000-132016, and 132068/132069 (its Flow).
    **dict.fromkeys((*range(132000, 132017), 132068, 132069), ErrorClass.TEMPLATE),
    # 131053 media upload error; 546 attachment type not allowed (Messenger/Instagram).
    **dict.fromkeys((131053, 546), ErrorClass.MEDIA),
}


def classify(code: int | None, subcode: int | None, http_status: int | None) -> ErrorClass:
    """Class of a Graph error: Meta's code decides; the HTTP status only when the code is unknown."""
    if code is not None:
        if subcode is not None and (code, subcode) in _BY_PAIR:
            return _BY_PAIR[(code, subcode)]
        if code in _BY_CODE:
            return _BY_CODE[code]
    # Unknown or missing code: Meta says not to key on HTTP status, but a proxy's 5xx carries no code.
    if http_status is not None:
        if http_status >= 500:
            return ErrorClass.TRANSIENT
        if http_status == 429:
            return ErrorClass.RATE_LIMIT
        if http_status == 401 and code is None:
            return ErrorClass.AUTH
    return ErrorClass.PERMANENT


class GraphError(OmniError):
    """A Graph API call failed: Meta's error envelope, or a network failure (``code`` is None then)."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        type: str | None = None,  # Meta's field name
        fbtrace_id: str | None = None,
        http_status: int | None = None,
        is_transient: bool | None = None,
        details: str | None = None,
        raw: dict[str, Any] | None = None,
        usage: Usage | None = None,
        error_class: ErrorClass | None = None,
        request_sent: bool | None = True,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.type = type
        self.fbtrace_id = fbtrace_id
        self.http_status = http_status
        self.is_transient = is_transient  # Meta's own flag when the body carries one, else None
        self.details = details  # WhatsApp error_data.details
        self.raw = raw or {}
        self.usage = usage
        self.error_class = error_class or classify(code, subcode, http_status)
        self.request_sent = request_sent  # False: surely never reached Meta; None: unknown

    @property
    def retryable(self) -> bool:
        """True when retrying with backoff is safe."""
        return self.error_class.retryable

    @property
    def retry_after_s(self) -> float | None:
        """Seconds Meta asks us to wait (usage header's estimated_time_to_regain_access), if any."""
        if self.usage is None or self.usage.regain_access_minutes is None:
            return None
        return self.usage.regain_access_minutes * 60

    def __repr__(self) -> str:
        return (
            f"GraphError(class={self.error_class.value}, code={self.code}, subcode={self.subcode}, "
            f"http_status={self.http_status}, fbtrace_id={self.fbtrace_id!r})"
        )


def parse_error_body(body: Any) -> dict[str, Any]:
    """Fields of Meta's ``{"error": {...}}`` envelope, tolerant of junk (missing keys become None)."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return {}
    error_data = err.get("error_data")
    details = error_data.get("details") if isinstance(error_data, dict) else None
    return {
        "message": str(err.get("message") or ""),
        "code": _as_int(err.get("code")),
        "subcode": _as_int(err.get("error_subcode")),
        "type": err.get("type") if isinstance(err.get("type"), str) else None,
        "fbtrace_id": err.get("fbtrace_id") if isinstance(err.get("fbtrace_id"), str) else None,
        "is_transient": err.get("is_transient") if isinstance(err.get("is_transient"), bool) else None,
        "details": details if isinstance(details, str) else None,
    }


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


_PLAIN_BY_CLASS: dict[ErrorClass, str] = {
    ErrorClass.RATE_LIMIT: "Meta is limiting how fast we can send — it will be retried shortly",
    ErrorClass.PAIR_RATE_LIMIT: "too many messages to this customer in a short time — it will be retried",
    ErrorClass.SPAM_LIMIT: "WhatsApp paused sending from this number after spam reports — the owner must "
    "check the number's quality",
    ErrorClass.TRANSIENT: "Meta had a temporary problem — it will be retried",
    ErrorClass.AUTH: "the connection expired — reconnect",
    ErrorClass.OUTSIDE_WINDOW: "the 24-hour window has closed",
    ErrorClass.RECIPIENT_UNAVAILABLE: "the customer cannot receive messages",
    ErrorClass.PERMISSION: "the app lacks a permission for this account — reconnect it and grant every "
    "permission",
    ErrorClass.BAD_REQUEST: "Meta rejected the message as invalid",
    ErrorClass.ACCOUNT_BLOCKED: "the business account is restricted by Meta — the owner must check it",
    ErrorClass.AMBIGUOUS: "we could not confirm whether the message was sent",
    ErrorClass.TEMPLATE: "WhatsApp refused the template — check it in WhatsApp Manager",
    ErrorClass.MEDIA: "the platform refused the file (its type, size or contents)",
    ErrorClass.PERMANENT: "Meta refused the message",
}

_PLAIN_BY_CODE: dict[int, str] = {
    131026: "the customer cannot receive messages",
    551: "the customer is not available or does not accept messages",
    131049: "WhatsApp held back this message to keep customers engaged — try again tomorrow",
    131050: "the customer has opted out of marketing messages",
    131053: "WhatsApp refused the file: its contents do not match its type, or it is too large",
    546: "the platform does not take this type of file",
    132000: "the template was sent with the wrong number of values — refresh the templates and fill it "
    "in again",
    132001: "the template does not exist in this language, or is not approved yet",
    132005: "the template's text is too long once filled in",
    132007: "the template's content breaks WhatsApp's policies",
    132012: "a value does not have the format the template expects (text, or the header's media type)",
    132015: "the template is paused by WhatsApp because of low quality",
    132016: "the template was disabled by WhatsApp",
    132068: "the template's form (Flow) is blocked",
    132069: "the template's form (Flow) is throttled — try again later",
}


def plain_reason(err: GraphError) -> str:
    """A short explanation in plain words for restaurant staff."""
    if err.code is not None and err.code in _PLAIN_BY_CODE:
        return _PLAIN_BY_CODE[err.code]
    return _PLAIN_BY_CLASS[err.error_class]


def plain_reason_for_code(code: str | None, fallback: str | None = None) -> str | None:
    """Plain words for a stored error code (Meta's number, or one of our own codes such as
    ``outside_window``); ``fallback`` (the stored message) when the code says nothing we know."""
    if code is None:
        return fallback
    # isdecimal, not isdigit: "²" is a digit that int() refuses (found by hypothesis).
    if code.lstrip("-").isdecimal():
        number = int(code)
        if number in _PLAIN_BY_CODE:
            return _PLAIN_BY_CODE[number]
        error_class = classify(number, None, None)
        if error_class is not ErrorClass.PERMANENT:
            return _PLAIN_BY_CLASS[error_class]
        return fallback or _PLAIN_BY_CLASS[error_class]
    try:
        return _PLAIN_BY_CLASS[ErrorClass(code)]
    except ValueError:
        return fallback


class PayloadError(OmniError, ValueError):
    """The message cannot be sent as built (bad recipient, empty text, ...); nothing was called."""


class TextTooLong(PayloadError):
    """The text is over the channel's limit (WA 4096 chars, FB 2000 chars, IG 1000 UTF-8 bytes)."""

    def __init__(self, channel: str, limit: int, unit: str, actual: int) -> None:
        super().__init__(f"{channel} text is {actual} {unit}, over the limit of {limit}")
        self.channel = channel
        self.limit = limit
        self.unit = unit
        self.actual = actual
