"""Header names the broker plumbing sets, and helpers to read broker-set headers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

ATTEMPT = "x-omni-attempt"
LAST_ERROR = "x-omni-last-error"
DLQ_REASON = "x-omni-dlq-reason"
DLQ_DETAIL = "x-omni-dlq-detail"
SOURCE_QUEUE = "x-omni-source-queue"
DEAD_LETTERED_AT = "x-omni-dead-lettered-at"
REPLAYED_AT = "x-omni-replayed-at"
# The original routing key: copies travel through the default exchange, which replaces it.
ROUTING_KEY = "x-omni-routing-key"
DELIVERY_COUNT = "x-delivery-count"  # set by quorum queues on redelivery
DETAIL_LIMIT = 500  # characters of an error detail kept in a header

# Set by the broker when it dead-letters; dropped from copies we republish so they do not pile up.
_BROKER_DEATH = ("x-death", "x-first-death-reason", "x-first-death-queue", "x-first-death-exchange")
_DLQ_HEADERS = (DLQ_REASON, DLQ_DETAIL, SOURCE_QUEUE, DEAD_LETTERED_AT)


def text(value: Any) -> str | None:
    """Return a header value as ``str`` (AMQP may hand strings over as bytes)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def as_int(value: Any, default: int) -> int:
    """Return a header value as ``int``, ``default`` when absent or malformed."""
    try:
        return int(text(value) or default)
    except ValueError:
        return default


def now_iso() -> str:
    """Current UTC time in ISO 8601."""
    return datetime.now(UTC).isoformat()


def republishable(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Copy headers for a republish, without the broker's death and delivery-count headers."""
    return {k: v for k, v in (headers or {}).items() if k not in _BROKER_DEATH and k != DELIVERY_COUNT}


def for_replay(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Copy headers for a replay out of a DLQ: no dead-letter bookkeeping, attempt reset to 1."""
    out = {k: v for k, v in republishable(headers).items() if k not in _DLQ_HEADERS and k != LAST_ERROR}
    out[ATTEMPT] = 1
    out[REPLAYED_AT] = now_iso()
    return out


def jsonable(value: Any) -> Any:
    """Turn AMQP header values (bytes, datetimes, nested tables) into JSON-friendly values."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def dead_letter_headers(
    headers: Mapping[str, Any] | None, *, reason: str, detail: str, source_queue: str, routing_key: str
) -> dict[str, Any]:
    """Headers of a copy parked in a dead-letter queue: why, from where, and how to send it back."""
    out = republishable(headers)
    out[DLQ_REASON] = reason
    out[DLQ_DETAIL] = detail[:DETAIL_LIMIT]
    out[SOURCE_QUEUE] = source_queue
    out[DEAD_LETTERED_AT] = now_iso()
    out[ROUTING_KEY] = routing_key
    return out
