"""structlog configuration: JSON lines off a terminal, readable lines on one, secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(token|secret|password|authorization|api_key|credential|key)", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._\-~+/=]+")


def _redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Drop values of secret-looking keys and bearer tokens inside strings: logs never carry secrets."""
    for key, value in list(event.items()):
        if key != "event" and _SECRET_KEYS.search(key) and value is not None:
            event[key] = "[redacted]"
        elif isinstance(value, str) and "Bearer" in value:
            event[key] = _BEARER.sub(r"\1[redacted]", value)
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
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
