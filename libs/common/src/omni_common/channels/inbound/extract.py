"""Typed reads from untrusted JSON: each helper returns the right type or raises ``MalformedEvent``.

Required fields raise; optional fields of the wrong type read as ``None`` because a cosmetic field
(a caption, a mime type) should never cost us the message.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from omni_common.channels.inbound.errors import MalformedEvent

# Platform timestamps outside this window are corrupt, not merely old or early.
_MIN_EPOCH_S = 946_684_800  # 2000-01-01
_MAX_EPOCH_S = 7_258_118_400  # 2200-01-01


def as_dict(value: Any, what: str) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object."""
    if not isinstance(value, dict):
        raise MalformedEvent("malformed", f"{what} is {type(value).__name__}, not an object")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    """Return ``value`` if it is a JSON array (``None`` reads as empty)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedEvent("malformed", f"{what} is {type(value).__name__}, not an array")
    return value


def req_str(obj: dict[str, Any], key: str, what: str) -> str:
    """Return the non-empty string ``obj[key]``."""
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(
            "missing_id" if value is None else "malformed", f"{what}.{key} missing or not a string"
        )
    return value


def opt_str(obj: Any, key: str) -> str | None:
    """Return ``obj[key]`` if it is a string, else ``None``."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(key)
    return value if isinstance(value, str) else None


def opt_id(obj: Any, key: str) -> str | None:
    """Return a non-empty string id ``obj[key]``, else ``None``."""
    value = opt_str(obj, key)
    return value or None


def opt_dict(obj: Any, key: str) -> dict[str, Any] | None:
    """Return ``obj[key]`` if it is an object, else ``None``."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(key)
    return value if isinstance(value, dict) else None


def opt_int(obj: Any, key: str) -> int | None:
    """Return ``obj[key]`` if it is an integer (booleans excluded), else ``None``."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _epoch_number(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    # Bounded length: int() of a megabyte of digits is slow, and no real timestamp is that long.
    if isinstance(value, str) and 0 < len(value) <= 16 and value.isascii() and value.isdigit():
        return int(value)
    raise MalformedEvent("bad_timestamp", f"{what} is not an integer timestamp")


def _in_range(number: int, scale: int, what: str) -> int:
    # Compared as integers first: a huge int would overflow float conversion.
    if not _MIN_EPOCH_S * scale <= number < _MAX_EPOCH_S * scale:
        raise MalformedEvent("bad_timestamp", f"{what} out of range")
    return number


def epoch_seconds(value: Any, what: str) -> datetime:
    """Parse a Unix-seconds timestamp (WhatsApp sends it as a string) into an aware UTC datetime."""
    seconds = _in_range(_epoch_number(value, what), 1, what)
    return datetime.fromtimestamp(seconds, tz=UTC)


def epoch_millis(value: Any, what: str) -> datetime:
    """Parse a Unix-milliseconds timestamp (Messenger/Instagram) into an aware UTC datetime."""
    millis = _in_range(_epoch_number(value, what), 1000, what)
    return datetime.fromtimestamp(millis // 1000, tz=UTC).replace(microsecond=(millis % 1000) * 1000)


def coordinate(obj: dict[str, Any], key: str, bound: float, what: str) -> float:
    """Return a finite latitude/longitude within ``±bound``."""
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedEvent("malformed", f"{what}.{key} is not a number")
    # Range-checked before float(): a huge JSON integer would overflow the conversion.
    if isinstance(value, int) and abs(value) > bound:
        raise MalformedEvent("malformed", f"{what}.{key} out of range")
    number = float(value)
    if not math.isfinite(number) or abs(number) > bound:
        raise MalformedEvent("malformed", f"{what}.{key} out of range")
    return number
