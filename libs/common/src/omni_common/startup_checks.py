"""Start-up refusals: settings a production service must not run with, said in plain words.

Pure functions over Settings values; each service's ``main.py`` (the composition root, never a
library or a test harness) calls ``refuse_unsafe_settings`` before it opens anything.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import structlog

from omni_common.broker.cluster import broker_urls
from omni_common.settings import Settings

log = structlog.get_logger(__name__)
DEFAULT_CREDENTIALS = ("guest", "guest")  # RabbitMQ's built-in administrator, the same everywhere


def default_broker_credentials(env: str, rabbitmq_url: str) -> str | None:
    """Why a service must not start with this broker URL, or None.

    RabbitMQ's ``guest``/``guest`` is known to everyone and may do anything in its vhosts: outside
    development each service connects as its own least-privilege user (``omni broker setup``).
    """
    if env == "development":
        return None
    for url in broker_urls(rabbitmq_url):
        parts = urlsplit(url)
        # No credentials in the URL means guest/guest too (the AMQP clients' default).
        user = unquote(parts.username) if parts.username is not None else "guest"
        password = unquote(parts.password) if parts.password is not None else "guest"
        if (user, password) == DEFAULT_CREDENTIALS:
            return (
                "the broker URL (OMNI_RABBITMQ_URL) uses RabbitMQ's default user guest with its default "
                "password, which anyone knows and which may do anything on the broker. Outside "
                "development each service connects as its own user: create them with `omni broker "
                "setup` (docs/runbook.md, 'Broker users') and put that service's user and password in "
                "its OMNI_RABBITMQ_URL; on a developer's machine set OMNI_ENV=development"
            )
    return None


def unsafe_settings(settings: Settings) -> list[str]:
    """Every reason these settings must not run a service (empty: they may)."""
    reasons = [default_broker_credentials(settings.env, settings.rabbitmq_url)]
    return [r for r in reasons if r is not None]


def refuse_unsafe_settings(service: str, settings: Settings) -> None:
    """Exit (SystemExit naming the service and the reasons) when ``unsafe_settings`` finds any."""
    reasons = unsafe_settings(settings)
    if not reasons:
        return
    for reason in reasons:
        log.critical("start_refused", service=service, reason=reason)
    raise SystemExit(f"{service} refuses to start: " + "; ".join(reasons))
