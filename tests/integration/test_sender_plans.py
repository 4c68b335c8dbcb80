"""The outbound-sender's statements stay on their indexes once PostgreSQL plans them generically.

Replies are sent (and one sent twice, and one refused by Meta) on a tenant with 20,000 conversations,
calling the handler directly against the Meta sandbox; every statement the sender sends to the
tenant's database is recorded and its generic plan checked (tests/plan_audit.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
from outbound_support import Db, add_chat, connect, direct_deps, message, queue_reply, tenant_db
from plan_audit import fill, generic_plans, recording, scanning
from sandbox_server import SandboxControl, sandbox

from omni_common.contracts import SendReply
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings
from outbound_sender.handler import handle_send
from outbound_sender.pacing import MemoryPacer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def root_url() -> Iterator[str]:
    with sandbox() as url:
        yield url


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Db]:
    async with tenant_db(settings, "senderplans") as d:
        yield d


async def test_sender_statements_use_indexes_on_large_tables(
    settings: Settings, root_url: str, db: Db
) -> None:
    async with httpx.AsyncClient(timeout=10.0) as http:
        ctl = SandboxControl(http, root_url)
        account_id, token = await ctl.add_account("whatsapp")
        social = await connect(db, "whatsapp", account_id, token)
        conninfo = libpq_conninfo(settings.database_url, database=db.db_name)
        with psycopg.connect(conninfo, autocommit=True) as c:
            fill(c, db.tenant_id, social)
        chat = await add_chat(db, social, "whatsapp", "34600700000")

        deps = direct_deps(ctl, db, settings, MemoryPacer(), retry_delays=3)
        with recording(db.db_name) as seen:
            ok = await queue_reply(db, chat, "whatsapp", "Le esperamos a las 9")
            command = SendReply(tenant_id=db.tenant_id, message_id=ok, channel="whatsapp")
            await handle_send(deps, command, attempt=1, correlation_id="plans-1")
            await handle_send(deps, command, attempt=1, correlation_id="plans-2")  # a duplicate command
            await ctl.add_fault(131026)  # Meta: message undeliverable (a permanent error)
            refused = await queue_reply(db, chat, "whatsapp", "¿Sigue ahí?")
            command = SendReply(tenant_id=db.tenant_id, message_id=refused, channel="whatsapp")
            await handle_send(deps, command, attempt=1, correlation_id="plans-3")
        assert (await message(db, ok)).status == "sent"
        assert (await message(db, refused)).status == "failed"

    assert len(seen) >= 4, list(seen)
    with psycopg.connect(conninfo, autocommit=True) as c:
        found = scanning(generic_plans(c, seen))
    assert not found, "\n\n".join(f"{s}\n{p}" for s, p in found.items())
