"""Constants and small helpers shared by the test modules (kept out of conftest.py: several conftest
modules exist, and a conftest cannot be imported by name)."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import httpx
import psycopg
from psycopg import sql

APP_SECRET = "test-app-secret-0123456789abcdef"
VERIFY_TOKEN = "test-verify-token"


def management_put(api: httpx.Client, path: str, body: object | None = None, tries: int = 5) -> None:
    """A PUT to RabbitMQ's management API, tried again when the API drops the connection or answers
    5xx: on a loaded machine it sometimes does, and a whole test session must not fail for it."""
    for attempt in range(1, tries + 1):
        try:
            api.put(path, json=body).raise_for_status()
            return
        except (httpx.TransportError, httpx.HTTPStatusError) as exc:
            server_side = not isinstance(exc, httpx.HTTPStatusError) or exc.response.status_code >= 500
            if attempt == tries or not server_side:
                raise
            time.sleep(0.5 * attempt)


def drop_databases(admin_url: str, prefix: str) -> None:
    """Drop every database whose name starts with ``prefix`` (terminating its connections)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix.replace("_", r"\_") + "%",)
            )
        ]
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass(frozen=True)
class Services:
    """The shared PostgreSQL and RabbitMQ a test session uses."""

    pg_admin_url: str  # libpq URI of a maintenance database on the server
    amqp_base: str  # amqp://user:pass@host:port
    mgmt_url: str  # RabbitMQ management API base
    mgmt_auth: tuple[str, str]


def redis_up() -> bool:
    """Whether the machine's Redis answers (it runs here and in CI; tests that need it skip without)."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False
