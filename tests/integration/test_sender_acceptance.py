"""Meta answered; our side failed to record it. The reply still ends ``sent`` with the platform's id,
never "may have been delivered", and it is never sent twice.

Real PostgreSQL (the tenant database stops accepting connections right after the sandbox answered:
``ALLOW_CONNECTIONS false`` and its connections ended), the Meta sandbox over a real socket, and for
the cross-replica cases the shared Redis the sender's journal uses in production.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from outbound_support import Db, add_chat, connect, direct_deps, message, queue_reply, tenant_db
from psycopg import sql
from redis.asyncio import Redis
from sandbox_server import SandboxControl, sandbox

from omni_common.broker.outcomes import Retry
from omni_common.contracts import SendReply, reasons
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings
from outbound_sender.deps import SenderDeps
from outbound_sender.handler import handle_send
from outbound_sender.journal import RedisJournal
from outbound_sender.pacing import MemoryPacer

pytestmark = pytest.mark.integration
RETRIES = 3


@pytest.fixture(scope="module")
def root_url() -> Iterator[str]:
    with sandbox() as url:
        yield url


@pytest.fixture(scope="module")
def sender_settings(settings: Settings, root_url: str) -> Settings:
    return settings.model_copy(update={"graph_api_url": f"{root_url}/v21.0"})


@pytest.fixture(scope="module")
async def db(settings: Settings) -> AsyncIterator[Db]:
    # A short wait for a connection: an outage of a few seconds then outlasts it, as a long one would.
    async with tenant_db(settings.model_copy(update={"db_acquire_timeout_s": 0.5}), "accepted") as d:
        yield d


@pytest.fixture
async def ctl(root_url: str) -> AsyncIterator[SandboxControl]:
    async with httpx.AsyncClient(timeout=10.0) as http:
        yield SandboxControl(http, root_url)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url("redis://127.0.0.1:6379/0")
    yield client
    await client.aclose()


async def _reply(ctl: SandboxControl, db: Db, text: str) -> tuple[str, uuid.UUID]:
    account_id, token = await ctl.add_account("whatsapp")
    social_id = await connect(db, "whatsapp", account_id, token)
    chat = await add_chat(db, social_id, "whatsapp", f"3460{secrets.randbelow(10**7):07d}")
    return account_id, await queue_reply(db, chat, "whatsapp", text)


async def _posts(ctl: SandboxControl, account_id: str) -> int:
    return len([r for r in await ctl.requests(f"/{account_id}/messages") if r["method"] == "POST"])


def _refuse_connections(settings: Settings, db: Db, *, for_s: float) -> None:
    """The tenant's database ends its connections and refuses new ones for ``for_s`` seconds."""
    admin = libpq_conninfo(settings.database_url, database="postgres")

    def allow(value: bool) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
                    sql.Identifier(db.db_name), sql.SQL("true" if value else "false")
                )
            )
            if not value:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db.db_name,)
                )

    allow(False)
    asyncio.get_running_loop().call_later(for_s, allow, True)


def _deps(ctl: SandboxControl, db: Db, settings: Settings, **extra: Any) -> SenderDeps:
    return direct_deps(ctl, db, settings, MemoryPacer(), retry_delays=RETRIES, **extra)


def _command(db: Db, mid: uuid.UUID) -> SendReply:
    return SendReply(tenant_id=db.tenant_id, message_id=mid, channel="whatsapp")


async def test_connections_cut_right_after_meta_answered_still_end_sent_once(
    ctl: SandboxControl, db: Db, sender_settings: Settings
) -> None:
    account_id, mid = await _reply(ctl, db, "mesa para dos a las nueve")

    async def cut() -> None:
        _refuse_connections(sender_settings, db, for_s=1.5)

    await handle_send(
        _deps(ctl, db, sender_settings, after_accept=cut), _command(db, mid), attempt=1, correlation_id="cut"
    )

    row = await message(db, mid)
    assert (row.status, row.error_code) == ("sent", None)
    assert row.external_message_id  # the platform's id, recorded
    assert await _posts(ctl, account_id) == 1


async def test_a_longer_outage_is_completed_by_another_replica_from_the_journal(
    ctl: SandboxControl, db: Db, sender_settings: Settings, redis: Redis
) -> None:
    account_id, mid = await _reply(ctl, db, "¿terraza o dentro?")
    journal = RedisJournal(redis)

    async def cut() -> None:
        _refuse_connections(sender_settings, db, for_s=2.5)

    first = _deps(ctl, db, sender_settings, after_accept=cut, journal=journal, accept_retry_s=0.5)
    with pytest.raises(Retry) as later:
        await handle_send(first, _command(db, mid), attempt=1, correlation_id="outage")
    assert later.value.reason == reasons.TENANT_DB_UNAVAILABLE
    await asyncio.sleep(3)  # the copy waits in the delay queue meanwhile; the database is back

    other_replica = _deps(ctl, db, sender_settings, journal=RedisJournal(redis))
    await handle_send(other_replica, _command(db, mid), attempt=2, correlation_id="outage")

    row = await message(db, mid)
    assert (row.status, row.error_code) == ("sent", None)
    assert row.external_message_id
    assert await _posts(ctl, account_id) == 1


async def test_a_sender_that_dies_after_meta_answered_leaves_the_answer_for_the_next(
    ctl: SandboxControl, db: Db, sender_settings: Settings, redis: Redis
) -> None:
    account_id, mid = await _reply(ctl, db, "hasta luego")

    class Crash(BaseException):
        """The process dies between Meta's answer and our commit of 'sent'."""

    async def die() -> None:
        raise Crash

    with pytest.raises(Crash):
        await handle_send(
            _deps(ctl, db, sender_settings, after_accept=die, journal=RedisJournal(redis)),
            _command(db, mid),
            attempt=1,
            correlation_id="crash",
        )
    assert (await message(db, mid)).status == "sending"

    await handle_send(
        _deps(ctl, db, sender_settings, journal=RedisJournal(redis)),
        _command(db, mid),
        attempt=1,  # a redelivery after a crash keeps its attempt number
        correlation_id="crash",
    )

    row = await message(db, mid)
    assert (row.status, row.error_code) == ("sent", None)
    assert await _posts(ctl, account_id) == 1
