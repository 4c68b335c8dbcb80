"""Generic-plan audits: record the statements a service sends, then check their generic plans.

psycopg prepares a statement after five uses on a connection and PostgreSQL may then plan it once for
all parameter values. Such a plan can scan a whole table where the values would have found an index
(tests/integration/test_normalizer_plans.py caught one). These helpers fill a tenant with enough rows
for the planner to care, record what SQLAlchemy sends to that tenant's database, and EXPLAIN each
statement with ``plan_cache_mode = force_generic_plan``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy import event
from sqlalchemy.engine import Engine

ROWS = 20_000
# The tables filled here; the others hold a few rows, where a scan is the right plan.
LARGE = re.compile(r"Seq Scan on (chats|chat_messages|contacts)\b")


def fill(
    conn: psycopg.Connection[Any], tenant_id: uuid.UUID, social_account_id: uuid.UUID, *, sent: bool = False
) -> None:
    """``ROWS`` WhatsApp contacts, one chat each (last activity spread over 30 days), one message each:
    inbound, or with ``sent`` an outbound one in status ``sent`` (for statements that move statuses)."""
    conn.execute(
        "INSERT INTO contacts (social_account_id, channel, external_id, display_name)"
        " SELECT %s, 'whatsapp', 'c' || g, 'Cliente ' || g FROM generate_series(1, %s) AS g",
        (social_account_id, ROWS),
    )
    conn.execute(
        "INSERT INTO chats (social_account_id, contact_id, channel, last_message_at, last_inbound_at)"
        " SELECT social_account_id, id, 'whatsapp', t, t FROM contacts,"
        " LATERAL (SELECT now() - random() * interval '30 days' AS t) AS r WHERE external_id LIKE 'c%%'"
    )
    direction, status = ("outbound", "sent") if sent else ("inbound", None)
    conn.execute(
        "INSERT INTO chat_messages (tenant_id, chat_id, channel, external_message_id, direction, kind,"
        " status, text) SELECT %s, id, 'whatsapp', 'wamid.' || id, %s, 'text', %s, 'hola ' || id FROM chats",
        (tenant_id, direction, status),
    )
    conn.execute("ANALYZE")


@contextmanager
def recording(db_name: str) -> Iterator[dict[str, dict[str, Any]]]:
    """Every distinct statement SQLAlchemy sends to ``db_name`` meanwhile, with its last parameters."""
    seen: dict[str, dict[str, Any]] = {}

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if conn.engine.url.database == db_name and isinstance(params, dict):
            seen[statement] = params

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def generic_plans(
    conn: psycopg.Connection[Any], statements: Mapping[str, Mapping[str, Any] | None]
) -> dict[str, str]:
    """Each statement's generic plan, executed with its recorded parameters' values (None: all NULL)."""
    conn.execute("SET plan_cache_mode = force_generic_plan")
    plans: dict[str, str] = {}
    for i, (statement, params) in enumerate(statements.items()):
        text, values = numbered(statement, params)
        conn.execute(f"PREPARE audit_{i} AS {text}")
        args = ", ".join(_literal(v, conn) for v in values)
        call = f"EXPLAIN EXECUTE audit_{i}({args})" if values else f"EXPLAIN EXECUTE audit_{i}"
        plans[statement] = "\n".join(r[0] for r in conn.execute(call))
        conn.execute(f"DEALLOCATE audit_{i}")
    return plans


def scanning(plans: dict[str, str]) -> dict[str, str]:
    """The plans that read a whole large table."""
    return {s: p for s, p in plans.items() if LARGE.search(p)}


def numbered(statement: str, params: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
    """``%(name)s`` placeholders as ``$n`` (one number per name) and the values in that order."""
    names: dict[str, int] = {}

    def number(m: re.Match[str]) -> str:
        return f"${names.setdefault(m.group(1), len(names) + 1)}"

    text = re.sub(r"%\((\w+)\)s", number, statement).replace("%%", "%")
    return text, [None if params is None else params[name] for name in names]


def _literal(value: Any, conn: psycopg.Connection[Any]) -> str:
    if isinstance(value, dict):
        value = Jsonb(value)
    return sql.Literal(value).as_string(conn)
