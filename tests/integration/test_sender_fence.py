"""The send fence on the real Redis (127.0.0.1:6379, skipped when absent): a claim's call is marked
started, or the claim abandoned, first one wins; and through the handler on the real PostgreSQL and
the Meta sandbox, a sender that died holding a claim it never sent is sent once by the next.
"""

from __future__ import annotations

import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from outbound_support import Db, add_chat, connect, direct_deps, message, queue_reply, tenant_db
from redis.asyncio import Redis
from sandbox_server import SandboxControl, sandbox
from testenv import redis_up

from omni_common.contracts import SendReply
from omni_common.settings import Settings
from outbound_sender.fence import KEEP_S, Claim, FenceUnavailable, RedisFence
from outbound_sender.handler import handle_send
from outbound_sender.pacing import Checks, MemoryPacer, Paced

pytestmark = pytest.mark.integration
REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis() -> AsyncIterator[tuple[Redis, str]]:
    if not redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    client = Redis.from_url(REDIS)
    prefix = f"omnitest:fence:{secrets.token_hex(4)}:"
    try:
        yield client, prefix
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def _claim(at: datetime | None = None) -> Claim:
    return Claim(uuid.uuid4(), uuid.uuid4(), at or datetime.now(UTC))


async def test_the_first_mark_wins_and_is_kept_a_day(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    one, other = RedisFence(client, prefix=prefix), RedisFence(client, prefix=prefix)  # two replicas
    started, abandoned = _claim(), _claim()

    assert await one.start(started)
    assert await other.abandon(started) is False  # its call started: never requeued
    assert not await one.start(started)  # a claim's call starts once

    assert await other.abandon(abandoned)
    assert not await one.start(abandoned)  # the slow original must not call
    assert await one.abandon(abandoned)  # a second reconciler may requeue it too (guarded by the row)

    ttl = await client.ttl(prefix + started.key())
    assert KEEP_S - 5 < ttl <= KEEP_S


async def test_a_claim_is_the_same_whatever_zone_its_time_is_read_in(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    fence = RedisFence(client, prefix=prefix)
    at = datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC)
    utc = _claim(at)
    madrid = Claim(utc.tenant_id, utc.message_id, at.astimezone(timezone(timedelta(hours=1))))
    later = Claim(utc.tenant_id, utc.message_id, at + timedelta(microseconds=1))

    assert await fence.start(utc)
    assert await fence.abandon(madrid) is False
    assert await fence.abandon(later) is True  # another claim of the same message


async def test_an_unreachable_redis_is_no_evidence() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=1)
    fence = RedisFence(client)
    try:
        with pytest.raises(FenceUnavailable):
            await fence.start(_claim())
        assert await fence.abandon(_claim()) is None
    finally:
        await client.aclose()


class Crash(BaseException):
    """The sender process dies while waiting for its pacing slot."""


class DiesWaiting(MemoryPacer):
    async def acquire_all(self, checks: Checks, max_wait_s: float) -> Paced:
        raise Crash


@pytest.fixture(scope="module")
def root_url() -> Iterator[str]:
    with sandbox() as url:
        yield url


@pytest.fixture(scope="module")
async def db(settings: Settings) -> AsyncIterator[Db]:
    async with tenant_db(settings, "fence") as d:
        yield d


@pytest.fixture
async def ctl(root_url: str) -> AsyncIterator[SandboxControl]:
    async with httpx.AsyncClient(timeout=10.0) as http:
        yield SandboxControl(http, root_url)


async def test_a_reply_claimed_by_a_sender_that_died_before_calling_is_sent_once(
    ctl: SandboxControl, db: Db, settings: Settings, redis: tuple[Redis, str]
) -> None:
    client, prefix = redis
    account_id, token = await ctl.add_account("whatsapp")
    social_id = await connect(db, "whatsapp", account_id, token)
    chat = await add_chat(db, social_id, "whatsapp", f"3460{secrets.randbelow(10**7):07d}")
    mid = await queue_reply(db, chat, "whatsapp", "¿a qué hora abrís?")
    command = SendReply(tenant_id=db.tenant_id, message_id=mid, channel="whatsapp")

    dead = direct_deps(
        ctl, db, settings, DiesWaiting(), retry_delays=3, fence=RedisFence(client, prefix=prefix)
    )
    with pytest.raises(Crash):
        await handle_send(dead, command, attempt=1, correlation_id="fence")
    assert (await message(db, mid)).status == "sending"

    fence = RedisFence(client, prefix=prefix)  # the other replica's, on the same Redis
    other_replica = direct_deps(
        ctl, db, settings, MemoryPacer(), retry_delays=3, in_flight_grace_s=0.0, fence=fence
    )
    await handle_send(other_replica, command, attempt=1, correlation_id="fence")

    row = await message(db, mid)
    assert (row.status, row.error_code) == ("sent", None)
    posts = [r for r in await ctl.requests(f"/{account_id}/messages") if r["method"] == "POST"]
    assert len(posts) == 1
