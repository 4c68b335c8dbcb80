"""structlog configuration: JSON lines off a terminal, readable lines on one, secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Secret-looking field names. A bare "key" anywhere would also hide routing_key, key_id and the like,
# which operators need; keys that hold secrets are named for it (api_key, private_key, keys).
_SECRET_KEYS = re.compile(
    r"(token|secret|password|passwd|authorization|api_?key|credential|private_?key|encryption_?keys?|^keys?$)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._\-~+/=]+")
# Secrets as query parameters inside a text (a URL in an error message): Graph tokens, app secrets.
_QUERY_SECRET = re.compile(
    r"((?:access_token|input_token|client_secret|appsecret_proof|app_secret|password)=)[^&\s\"']+",
    re.IGNORECASE,
)
_NESTING = 3  # levels of dicts/lists looked into (log values are small)


def _scrub_text(value: str) -> str:
    if "Bearer" in value:
        value = _BEARER.sub(r"\1[redacted]", value)
    if "=" in value:
        value = _QUERY_SECRET.sub(r"\1[redacted]", value)
    return value


def _scrub(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return _scrub_text(value)
    if depth >= _NESTING:
        return value
    if isinstance(value, dict):
        return {
            k: "[redacted]" if v is not None and _SECRET_KEYS.search(str(k)) else _scrub(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v, depth + 1) for v in value]
    return value


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Drop values of secret-looking keys (nested ones too), bearer tokens and secret query parameters
    inside strings: logs never carry secrets."""
    for key, value in list(event.items()):
        if key != "event" and _SECRET_KEYS.search(key) and value is not None:
            event[key] = "[redacted]"
        elif isinstance(value, str | dict | list | tuple):
            event[key] = _scrub(value, 0)
    return event


def configure_logging(*, service: str, json: bool | None = None, level: str = "INFO") -> None:
    """Configure structlog once per process; every line carries the service name."""
    as_json = (not sys.stderr.isatty()) if json is None else json
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    logging.basicConfig(level=level, stream=sys.stderr, format="%(message)s")
    # httpx logs every request URL at INFO; some Graph URLs (debug_token) carry a token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,  # after the traceback is text: a URL in an exception message is scrubbed too
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
