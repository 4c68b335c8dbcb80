"""A tenant being moved holds its events: TenantHeld goes back through the delay queue without
counting an attempt, however many times (more than the retries allowed), and is never dead-lettered."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from omni_common.broker import ConsumerRunner, Delivery, Publisher, build_topology, connect, declare_topology
from omni_common.broker.dlq import list_dead_letters
from omni_common.contracts.routing import RAW_WEBHOOKS, routing_key
from omni_common.errors import DatabaseUnavailable, TenantHeld
from omni_common.settings import Settings

pytestmark = pytest.mark.integration


async def _run(settings: Settings, failure: Exception, fail_times: int) -> tuple[list[int], int]:
    """Deliveries' attempt numbers until one succeeds (or 5 s pass), and the dead letters then."""
    topology = build_topology(
        retry_delays_ms=[50, 100],  # two retries: a counted failure is dead-lettered at the third
        delivery_limit=settings.delivery_limit,
        prefix=f"t{uuid.uuid4().hex[:8]}.",
        only_stages=(RAW_WEBHOOKS,),
    )
    connection = await connect(settings.rabbitmq_url, name="test-held")
    attempts: list[int] = []
    done = asyncio.Event()

    async def handler(delivery: Delivery) -> None:
        attempts.append(delivery.attempt)
        if len(attempts) <= fail_times:
            raise failure
        done.set()

    try:
        async with connection.channel() as channel:
            await declare_topology(channel, topology)
        publisher = Publisher(connection, exchange=topology.events_exchange)
        await publisher.start()
        runner = ConsumerRunner(
            connection,
            queue=RAW_WEBHOOKS,
            handler=handler,
            topology=topology,
            prefetch=5,
            publisher=publisher,
            name="test-held",
        )
        await runner.start()
        await publisher.publish(routing_key(RAW_WEBHOOKS, "whatsapp"), b"{}", message_id="m-held")
        deadline = time.monotonic() + 5
        while not done.is_set() and time.monotonic() < deadline:
            if await list_dead_letters(connection, topology):
                break
            await asyncio.sleep(0.05)
        await runner.stop()
        await publisher.close()
        return attempts, len(await list_dead_letters(connection, topology))
    finally:
        await connection.close()


async def test_held_events_wait_without_spending_retries(settings: Settings) -> None:
    attempts, dead = await _run(settings, TenantHeld("moving"), fail_times=6)
    assert attempts == [1] * 7  # held six times, then written: the attempt never grew
    assert dead == 0


async def test_an_unavailable_database_still_spends_them(settings: Settings) -> None:
    attempts, dead = await _run(settings, DatabaseUnavailable("down"), fail_times=6)
    assert attempts == [1, 2, 3]
    assert dead == 1
