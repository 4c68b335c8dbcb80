"""structlog configuration: JSON lines off a terminal, readable lines on one, secrets redacted."""

from __future__ import annotations

import json as stdjson
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import orjson
import structlog

# Secret-looking field names. A bare "key" anywhere would also hide routing_key, key_id and the like,
# which operators need; keys that hold secrets are named for it (api_key, private_key, keys).
_SECRET_KEYS = re.compile(
    r"(token|secret|password|passwd|authorization|api_?key|credential|private_?key|encryption_?keys?|^keys?$)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(bearer\s+)[A-Za-z0-9._\-~+/=]+", re.IGNORECASE)
# Secrets as query parameters inside a text (a URL in an error message): Graph tokens, app secrets.
_QUERY_SECRET = re.compile(
    r"((?:access_token|input_token|client_secret|appsecret_proof|app_secret|password|pin)=)[^&\s\"']+",
    re.IGNORECASE,
)
# Secrets as JSON members inside a text (a response body or payload quoted in an error message).
_JSON_SECRET = re.compile(
    r"(\"(?:[a-z_]*token|[a-z_]*secret|password|passwd|authorization|api_?key|pin|credentials?)\"\s*:\s*\")"
    r"(?:[^\"\\]|\\.)*",
    re.IGNORECASE,
)
# Tokens recognisable by their shape wherever they stand: Meta's access tokens (user, page and system
# user tokens all start "EAA"), OpenAI-style keys.
_TOKEN_SHAPES = re.compile(r"\b(?:EAA[A-Za-z0-9]{16,}|sk-[A-Za-z0-9_\-]{12,})")
# Log values are small; a deeper structure is cut rather than walked (a recursion bomb must not
# turn logging into the failure).
_MAX_DEPTH = 32
REDACTED = "[redacted]"
# Field names seen so far and whether they look secret: a handful of names make up nearly every line,
# and the regex over each name was most of a line's cost. Bounded (names are code, not data; a
# flood of new ones is simply not remembered).
_KEY_IS_SECRET: dict[str, bool] = {}
_KEYS_REMEMBERED = 4096
# Tuples, not ``a | b`` unions: a union is built anew at every call and checked slowly, per log value.
_BYTES = (bytes, bytearray)
_SEQUENCES = (list, tuple, set, frozenset)
_SCRUBBED = (str, bytes, bytearray, dict, list, tuple, set, frozenset)


def _secret_key(key: str) -> bool:
    known = _KEY_IS_SECRET.get(key)
    if known is None:
        known = _SECRET_KEYS.search(key) is not None
        if len(_KEY_IS_SECRET) < _KEYS_REMEMBERED:
            _KEY_IS_SECRET[key] = known
    return known


def _scrub_text(value: str) -> str:
    lowered = value.lower()
    if "bearer" in lowered:
        value = _BEARER.sub(r"\1" + REDACTED, value)
    if "=" in value:
        value = _QUERY_SECRET.sub(r"\1" + REDACTED, value)
    if '"' in value and ":" in value:
        value = _JSON_SECRET.sub(r"\1" + REDACTED, value)
    if "EAA" in value or "sk-" in value:
        value = _TOKEN_SHAPES.sub(REDACTED, value)
    return value


def _scrub(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, _BYTES):
        return _scrub_text(bytes(value).decode("utf-8", "replace"))
    if depth >= _MAX_DEPTH:
        return "[too deep]"
    if isinstance(value, dict):
        return {
            k: REDACTED if v is not None and _secret_key(str(k)) else _scrub(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, _SEQUENCES):
        return [_scrub(v, depth + 1) for v in value]
    return value


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Drop values of secret-looking keys (nested ones too), bearer tokens and secret query parameters
    inside strings: logs never carry secrets."""
    for key, value in list(event.items()):
        if key != "event" and value is not None and _secret_key(key):
            event[key] = REDACTED
        elif isinstance(value, _SCRUBBED):
            event[key] = _scrub(value, 0)
    return event


def _fallback(value: Any) -> Any:
    """What JSON cannot hold as such: its ``__structlog__()`` or its repr, as structlog's renderer does."""
    try:
        return value.__structlog__()
    except AttributeError:
        return repr(value)


def _dumps(event: Any, **_kw: Any) -> str:
    """One JSON line, written by orjson (several times cheaper than ``json.dumps``, per log line)."""
    try:
        return orjson.dumps(event, default=_fallback, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # an integer beyond 64 bits, say: the standard library's way
        return stdjson.dumps(event, default=_fallback)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a line is written: a process that swaps stderr (a
    test capturing output) never finds the handler writing to a closed one."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(
    *, service: str, json: bool | None = None, level: str = "INFO", cache_loggers: bool = False
) -> None:
    """Configure structlog once per process; every line carries the service name.

    The standard library's loggers (uvicorn, aio-pika, SQLAlchemy, httpx) go through the same
    processors, redaction included, and come out in the same format. ``cache_loggers``: each logger
    is built once, on its first line, instead of at every line (the services that log per event
    pass it from ``main``); such loggers then ignore a later reconfiguration, which tests that
    capture logs rely on, hence off by default.
    """
    as_json = (not sys.stderr.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_dumps) if as_json else structlog.dev.ConsoleRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _redact,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own logging config gives its loggers handlers of their own that do not propagate:
    # they would write past the redaction. Our servers pass log_config=None; this catches the rest.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    # httpx logs every request URL at INFO; some Graph URLs (debug_token) carry a token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # boto3 (S3 media) logs each request with its signature and presigned links at DEBUG.
    for name in ("boto3", "botocore", "s3transfer", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            _redact,  # after the traceback is text: a URL in an exception message is scrubbed too
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=cache_loggers,
    )
    structlog.contextvars.bind_contextvars(service=service)
