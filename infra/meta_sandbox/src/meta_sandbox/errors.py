"""Meta-style error envelopes, HTTP statuses and usage headers for injected and validation errors."""

from __future__ import annotations

import json
import secrets
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

_THROTTLING = frozenset({4, 17, 32, 613, 341, 80001, 80002, 80006, 80007, 80008, 130429, 131056})
_APP_LEVEL = frozenset({4, 17})  # reported through X-App-Usage rather than the BUC header
_STATUS_BY_CODE: dict[int, int] = {
    **dict.fromkeys(_THROTTLING, 429),
    **dict.fromkeys((190, 102, 104, 0), 401),
    **dict.fromkeys((1, 131000), 500),
    **dict.fromkeys((2, 131016, 133004, 131057), 503),
    **dict.fromkeys((10, 3, *range(200, 300)), 403),
}

_MESSAGES: dict[int, str] = {
    0: "(#0) AuthException",
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    4: "(#4) Application request limit reached",
    10: "(#10) This message is sent outside of allowed window.",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    100: "(#100) Invalid parameter",
    101: "Error validating application. Invalid application ID.",
    104: "An access token is required to request this resource.",
    190: "Invalid OAuth access token - Cannot parse access token",
    200: "(#200) Permissions error",
    210: "(#210) A page access token is required to request this resource.",
    368: "(#368) The action attempted has been deemed abusive or is otherwise disallowed",
    546: "(#546) The type of file you're trying to attach isn't allowed.",
    551: "(#551) This person isn't available right now.",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80006: "(#80006) There have been too many calls for this Messenger account. Wait a bit and try again.",
    80007: "(#80007) The WhatsApp Business Account has reached its rate limit.",
    130429: "(#130429) Rate limit hit",
    131000: "(#131000) Something went wrong",
    131008: "(#131008) Required parameter is missing",
    131016: "(#131016) Service unavailable",
    131026: "(#131026) Message undeliverable",
    131031: "(#131031) Business Account locked",
    131047: "(#131047) Re-engagement message",
    131048: "(#131048) Spam rate limit hit",
    131053: "(#131053) Media upload error",
    131056: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
    133005: "(#133005) Two step verification PIN Mismatch",
    133010: "(#133010) Account not registered",
}
_MESSAGES_BY_PAIR: dict[tuple[int, int], str] = {
    (190, 463): "Error validating access token: Session has expired.",
    (190, 467): "Error validating access token: The access token is invalid.",
}
_WA_DETAILS: dict[int, str] = {
    130429: "Cloud API message throughput has been reached.",
    131026: "Unable to deliver message.",
    131047: "Message failed to send because more than 24 hours have passed since the customer last "
    "replied to this number.",
    131056: "Too many messages sent from the sender phone number to the same recipient phone number in a "
    "short period of time.",
    133005: "Two step verification PIN incorrect.",
    133010: "Phone number not registered on the Whatsapp Business Platform.",
}


def http_status_for(code: int) -> int:
    """HTTP status the sandbox answers with (Meta's own mapping is unverified; clients key on code)."""
    return _STATUS_BY_CODE.get(code, 400)


def is_throttling(code: int) -> bool:
    """True for the rate-limit codes."""
    return code in _THROTTLING


def error_body(
    code: int, *, subcode: int | None = None, message: str | None = None, whatsapp: bool = False
) -> dict[str, Any]:
    """Meta's ``{"error": {...}}`` envelope, WhatsApp's ``error_data`` included on WA routes."""
    text = message or _MESSAGES_BY_PAIR.get((code, subcode or 0)) or _MESSAGES.get(code, f"(#{code}) Error")
    error: dict[str, Any] = {
        "message": text,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "A" + secrets.token_urlsafe(16),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if whatsapp:
        error["error_data"] = {"messaging_product": "whatsapp", "details": _WA_DETAILS.get(code, text)}
    return {"error": error}


def wa_status_error(code: int) -> dict[str, Any]:
    """The ``errors[]`` item of a failed WhatsApp status webhook."""
    title = _MESSAGES.get(code, f"(#{code}) Error").split(") ", 1)[-1]
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": _WA_DETAILS.get(code, title)},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }


def usage_headers(code: int, *, object_id: str, channel: str, regain_minutes: int) -> dict[str, str]:
    """Usage headers that accompany a throttling error (percentages at 100, regain estimate)."""
    if code in _APP_LEVEL:
        return {"X-App-Usage": json.dumps({"call_count": 100, "total_time": 40, "total_cputime": 35})}
    buc_type = {"facebook": "messenger", "instagram": "instagram"}.get(channel, "whatsapp_business_messaging")
    usage = [
        {
            "type": buc_type,
            "call_count": 100,
            "total_cputime": 30,
            "total_time": 30,
            "estimated_time_to_regain_access": regain_minutes,
        }
    ]
    return {"X-Business-Use-Case-Usage": json.dumps({object_id: usage})}


class MetaError(Exception):
    """Raised inside a route to answer with a Meta error envelope."""

    def __init__(
        self,
        code: int,
        *,
        subcode: int | None = None,
        message: str | None = None,
        http_status: int | None = None,
        whatsapp: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or str(code))
        self.code = code
        self.body = error_body(code, subcode=subcode, message=message, whatsapp=whatsapp)
        self.http_status = http_status or http_status_for(code)
        self.headers = headers or {}


async def meta_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Render a ``MetaError`` and note the status on the recorded request."""
    assert isinstance(exc, MetaError)
    record = getattr(request.state, "record", None)
    if record is not None:
        record["response_status"] = exc.http_status
        record["error_code"] = exc.code
    return JSONResponse(exc.body, status_code=exc.http_status, headers=exc.headers)
