"""The normalizer's statements stay on their indexes as a tenant's tables grow.

They are prepared once per connection, so PostgreSQL soon plans them generically: a JSON record set
is then assumed to hold 100 rows, which once made it hash-join a batch against a sequential scan of
every chat. Each statement is prepared here on a tenant with thousands of chats and messages and its
generic plan checked.
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from pipeline import provision, unique_digits
from plan_audit import fill, generic_plans

from normalizer import sql
from omni_common.settings import Settings

pytestmark = pytest.mark.integration


def test_batch_statements_use_indexes_on_large_tables(settings: Settings) -> None:
    waba = unique_digits()
    record = asyncio.run(provision(settings, f"plans{waba[-6:]}", {"whatsapp": waba}))
    base = settings.database_url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/{record.db_name}", autocommit=True) as conn:
        (account,) = conn.execute("SELECT id FROM social_accounts").fetchone() or ()
        fill(conn, record.id, account, sent=True)
        by_text = {getattr(sql, name): name for name in ("BUMP_CHATS", "BULK_STATUS")}
        plans = {by_text[text]: plan for text, plan in generic_plans(conn, dict.fromkeys(by_text)).items()}
    for name, plan in plans.items():
        assert "Seq Scan" not in plan, f"{name}:\n{plan}"
