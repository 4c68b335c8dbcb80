"""`omni demo seed` twice: the demo shows the team inbox and channel health, each thing once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from omni_cli.commands import demo
from omni_cli.commands.demo_team import REPLY_ID
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings
from omni_common.tenancy.migrate import migrate_all

pytestmark = pytest.mark.integration


async def _tenant_db(settings: Settings) -> str:
    engine = catalog_engine(settings.database_url)
    try:
        tenant = await Catalog(engine).get_tenant_by_slug(demo.SLUG)
        assert tenant is not None
        return tenant.db_name
    finally:
        await engine.dispose()


def test_seeding_twice_gives_the_team_and_health_demo_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer's .env: only this session's database and key
    monkeypatch.setenv("OMNI_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OMNI_ENCRYPTION_KEYS", settings.encryption_keys.get_secret_value())
    asyncio.run(migrate_all(settings.database_url))
    asyncio.run(demo.seed())
    asyncio.run(demo.seed())
    db_name = asyncio.run(_tenant_db(settings))

    def q(sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        conninfo = libpq_conninfo(settings.database_url, database=db_name)
        with psycopg.connect(conninfo, row_factory=dict_row) as conn:
            return conn.execute(sql, params).fetchall()

    assert [r["state"] for r in q("SELECT state FROM chats WHERE state = 'pending'")] == ["pending"]
    closed = q("SELECT id FROM chats WHERE last_inbound_at < now() - interval '24 hours'")
    assert len(closed) == 1  # Tom wrote two days ago

    reactions = q("SELECT reply_to_message_id, reaction_emoji FROM chat_messages WHERE kind = 'reaction'")
    replies = q("SELECT id, reaction_emoji FROM chat_messages WHERE external_message_id = %s", (REPLY_ID,))
    assert len(reactions) == 1
    assert len(replies) == 1
    assert reactions[0]["reply_to_message_id"] == replies[0]["id"]  # shown on the reply it reacts to
    assert replies[0]["reaction_emoji"] == "👍"

    flagged = q("SELECT platform, last_error_code FROM social_accounts WHERE status = 'needs_reauth'")
    assert flagged == [{"platform": "facebook", "last_error_code": "190"}]
    notices = q("SELECT kind FROM notifications WHERE resolved_at IS NULL AND kind = 'token_expired'")
    assert len(notices) == 1

    def audit(action: str) -> list[dict[str, Any]]:
        return q("SELECT target_id, details FROM audit_log WHERE action = %s", (action,))

    connected = audit("account.connected")
    assert len(connected) == 3
    assert len({e["target_id"] for e in connected}) == 3
    sent = audit("reply.sent")
    assert len(sent) == 2  # the reply Lena reacted to and the failed one of the health panel
    messages = {r["id"] for r in q("SELECT id FROM chat_messages WHERE direction = 'outbound'")}
    assert {e["details"]["message_id"] for e in sent} <= {str(m) for m in messages}
    notes = q("SELECT id FROM chat_notes")
    added = audit("note.added")
    assert len(notes) == 1
    assert [e["details"]["note_id"] for e in added] == [str(notes[0]["id"])]
    assert len(audit("conversation.state_changed")) == 3  # snoozed, resolved, pending
