"""A second PostgreSQL server for the tests of several database servers (placement, moves).

One throw-away cluster per test module (``omni_common.testing.pgcluster``), and a catalog of the
module's own on the shared server, so the session's catalog never learns of a server that goes away
with the module. Also: a WhatsApp text webhook for any account, and the CLI runner.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import structlog
from typer.testing import CliRunner

from omni_cli.main import app
from omni_common.settings import Settings
from omni_common.testing.pgcluster import private_cluster

TEXT = json.loads((Path(__file__).parent / "fixtures" / "meta" / "whatsapp" / "text.json").read_text())


@contextmanager
def second_server(max_connections: int = 60) -> Iterator[str]:
    """A private cluster on 127.0.0.1; yields its URL without a database (``postgresql://...:port``)."""
    with private_cluster(max_connections) as admin_url:
        yield admin_url.rsplit("/", 1)[0]


def own_catalog(settings: Settings, name: str) -> Settings:
    """``settings`` with a catalog database of its own (``name``) on the shared server."""
    base = settings.database_url.rsplit("/", 1)[0]
    return settings.model_copy(update={"database_url": f"{base}/{name}"})


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "OMNI_DATABASE_URL": settings.database_url,
        "OMNI_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
        "OMNI_LOG_JSON": "true",
        "OMNI_LOG_LEVEL": "WARNING",
    }


def omni(settings: Settings, *args: str) -> tuple[int, str]:
    """Run ``omni ARGS`` in this process; (exit code, stdout and stderr)."""
    result = CliRunner().invoke(app, list(args), env=cli_env(settings))
    structlog.reset_defaults()  # the CLI configured structlog onto the runner's (closed) streams
    try:
        err = result.stderr
    except ValueError:  # older Click: stderr mixed into output
        err = ""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        err += f"\n{type(result.exception).__name__}: {result.exception}"
    return result.exit_code, result.output + err


def whatsapp_text(
    phone_number_id: str, wamid: str, body: str, sender: str = "4915112345678"
) -> dict[str, Any]:
    """A signed-webhook body: one WhatsApp text message to ``phone_number_id``."""
    payload = copy.deepcopy(TEXT)
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = phone_number_id
    value["contacts"][0]["wa_id"] = sender
    message = value["messages"][0]
    message.update({"id": wamid, "from": sender, "text": {"body": body}})
    return payload


def server_port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def databases(url: str, prefix: str) -> set[str]:
    """Databases of the server at ``url`` whose name starts with ``prefix``."""
    with psycopg.connect(f"{url}/postgres") as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",))
        return {r[0] for r in rows}
