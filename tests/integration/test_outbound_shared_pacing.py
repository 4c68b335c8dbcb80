"""Pacing shared by sender replicas through the real Redis on 127.0.0.1:6379 (skipped when absent)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from testenv import redis_up

from outbound_sender.pacing import Paced, Rate
from outbound_sender.shared_pacing import RedisPacer

pytestmark = pytest.mark.integration


@pytest.fixture
async def replicas() -> AsyncIterator[tuple[RedisPacer, RedisPacer]]:
    if not redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    import redis.asyncio as aioredis

    prefix = f"omnitest:{secrets.token_hex(4)}:"  # unique keys: parallel runs never share a bucket
    a, b = aioredis.from_url("redis://127.0.0.1:6379/0"), aioredis.from_url("redis://127.0.0.1:6379/0")
    try:
        yield RedisPacer(a, prefix=prefix), RedisPacer(b, prefix=prefix)
    finally:
        keys = [k async for k in a.scan_iter(match=prefix + "*")]
        if keys:
            await a.delete(*keys)
        await a.aclose()
        await b.aclose()


async def test_two_replicas_share_one_budget(replicas: tuple[RedisPacer, RedisPacer]) -> None:
    rate = Rate(20.0, burst=2)
    sent: list[float] = []

    async def send(pacer: RedisPacer) -> None:
        assert (await pacer.acquire_all([("acct:whatsapp:1", rate)], max_wait_s=5)).granted
        sent.append(time.monotonic())

    start = time.monotonic()
    await asyncio.gather(*(send(replicas[i % 2]) for i in range(10)))
    # Two free (burst), then one every 50 ms across both replicas: >= 8 intervals in total.
    assert max(sent) - start >= 8 * rate.interval - 0.02
    assert max(sent) - start < 2.0


async def test_hold_and_refusal_are_seen_by_the_other_replica(
    replicas: tuple[RedisPacer, RedisPacer],
) -> None:
    a, b = replicas
    rate = Rate(80.0, burst=8)
    await a.hold("acct:whatsapp:2", 30.0, rate)  # Meta said: regain access in 30 s
    assert not (await b.acquire_all([("acct:whatsapp:2", rate)], max_wait_s=1.0)).granted
    assert await b.acquire_all([("acct:whatsapp:3", rate)], max_wait_s=1.0) == Paced(True, 0.0)  # others go


async def test_both_slots_in_one_call_all_or_none(replicas: tuple[RedisPacer, RedisPacer]) -> None:
    a, b = replicas
    account, customer = ("acct:whatsapp:4", Rate(80.0, burst=2)), ("pair:whatsapp:4:346", Rate(1 / 6))
    first = await a.acquire_all([account, customer], max_wait_s=1.0)
    assert (first.granted, first.wait_s) == (True, 0.0)
    refused = await b.acquire_all([account, customer], max_wait_s=1.0)  # customer: next slot in ~6 s
    assert (refused.granted, refused.refused_key) == (False, "pair:whatsapp:4:346")
    assert refused.wait_s > 5.0
    # Nothing was taken for the refused send: the account's burst still has its second slot.
    assert await a.acquire_all([account, ("pair:whatsapp:4:347", Rate(1 / 6))], 1.0) == Paced(True, 0.0)
