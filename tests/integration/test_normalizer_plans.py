"""The normalizer's statements stay on their indexes as a tenant's tables grow.

They are prepared once per connection, so PostgreSQL soon plans them generically: a JSON record set
is then assumed to hold 100 rows, which once made it hash-join a batch against a sequential scan of
every chat. Each statement is prepared here on a tenant with thousands of chats and messages and its
generic plan checked.
"""

from __future__ import annotations

import asyncio
import re

import psycopg
import pytest
from pipeline import provision, unique_digits

from normalizer import store
from omni_common.settings import Settings

pytestmark = pytest.mark.integration

ROWS = 20_000


def _prepared(sql: str) -> tuple[str, int]:
    """``sql`` with ``%(name)s`` turned into ``$n`` (a name used twice keeps its number)."""
    numbers: dict[str, int] = {}

    def number(m: re.Match[str]) -> str:
        return f"${numbers.setdefault(m.group(1), len(numbers) + 1)}"

    return re.sub(r"%\((\w+)\)s", number, sql), len(numbers)


def test_batch_statements_use_indexes_on_large_tables(settings: Settings) -> None:
    waba = unique_digits()
    record = asyncio.run(provision(settings, f"plans{waba[-6:]}", {"whatsapp": waba}))
    base = settings.database_url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/{record.db_name}", autocommit=True) as conn:
        (account,) = conn.execute("SELECT id FROM social_accounts").fetchone() or ()
        conn.execute(
            "INSERT INTO contacts (social_account_id, channel, external_id)"
            " SELECT %s, 'whatsapp', 'c' || g FROM generate_series(1, %s) AS g",
            (account, ROWS),
        )
        conn.execute(
            "INSERT INTO chats (social_account_id, contact_id, channel)"
            " SELECT social_account_id, id, 'whatsapp' FROM contacts"
        )
        conn.execute(
            "INSERT INTO chat_messages (tenant_id, chat_id, channel, external_message_id, direction, kind,"
            " status) SELECT %s, id, 'whatsapp', 'wamid.' || id, 'outbound', 'text', 'sent' FROM chats",
            (record.id,),
        )
        conn.execute("ANALYZE")
        conn.execute("SET plan_cache_mode = force_generic_plan")
        plans = {}
        for name in ("_BUMP_CHATS", "_BULK_STATUS"):
            sql, params = _prepared(getattr(store, name))
            conn.execute(f"PREPARE {name.lower()} AS {sql}")
            args = ", ".join(["NULL"] * params)
            plans[name] = "\n".join(r[0] for r in conn.execute(f"EXPLAIN EXECUTE {name.lower()}({args})"))
    for name, plan in plans.items():
        assert "Seq Scan" not in plan, f"{name}:\n{plan}"
