"""Topology declaration and confirmed publishing against the real broker (this session's vhost)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection

from omni_common.broker import (
    Publisher,
    PublishError,
    Topology,
    TopologyError,
    build_topology,
    connect,
    declare_topology,
)
from omni_common.contracts.routing import RAW_WEBHOOKS, routing_key
from omni_common.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def connection(settings: Settings) -> AsyncIterator[AbstractRobustConnection]:
    conn = await connect(settings.rabbitmq_url, name="test-broker-publish")
    yield conn
    await conn.close()


@pytest.fixture
async def topology(settings: Settings, connection: AbstractRobustConnection) -> Topology:
    """The topology under a unique prefix, so tests sharing the vhost never see each other's messages."""
    topo = build_topology(
        retry_delays_ms=settings.retry_delays_ms,
        delivery_limit=settings.delivery_limit,
        prefix=f"t{uuid.uuid4().hex[:8]}.",
        only_stages=(RAW_WEBHOOKS,),
    )
    async with connection.channel() as channel:
        await declare_topology(channel, topo)
    return topo


@pytest.fixture
async def publisher(connection: AbstractRobustConnection, topology: Topology) -> AsyncIterator[Publisher]:
    pub = Publisher(connection, exchange=topology.events_exchange)
    await pub.start()
    yield pub
    await pub.close()


async def message_count(connection: AbstractRobustConnection, queue: str) -> int:
    async with connection.channel() as channel:
        q = await channel.declare_queue(queue, passive=True)
        return q.declaration_result.message_count or 0


class TestDeclareTopology:
    async def test_declares_quorum_queues_with_arguments_idempotently(
        self, settings: Settings, connection: AbstractRobustConnection, topology: Topology, mgmt: httpx.Client
    ) -> None:
        async with connection.channel() as channel:
            await declare_topology(channel, topology)  # second run: a no-op

        vhost = quote(settings.rabbitmq_url.rsplit("/", 1)[1], safe="")
        # The vhost segment is already percent-encoded in the URL; the API wants it encoded once.
        listed = mgmt.get(f"/api/queues/{vhost}").raise_for_status().json()
        ours = {q["name"]: q for q in listed if q["name"].startswith(topology.prefix)}
        assert set(ours) == {q.name for q in topology.queues}
        for q in topology.queues:
            assert ours[q.name]["type"] == "quorum"
            assert ours[q.name]["durable"] is True
            assert ours[q.name]["arguments"] == q.arguments
        work = ours[topology.queue_name(RAW_WEBHOOKS)]["arguments"]
        assert work["x-delivery-limit"] == settings.delivery_limit
        assert work["x-dead-letter-exchange"] == topology.dlx_exchange

        exchanges = {e["name"]: e for e in mgmt.get(f"/api/exchanges/{vhost}").raise_for_status().json()}
        assert exchanges[topology.events_exchange]["type"] == "topic"
        assert exchanges[topology.dlx_exchange]["type"] == "direct"
        assert exchanges[topology.notifications_exchange]["type"] == "fanout"

    async def test_conflicting_arguments_name_the_queue(
        self, settings: Settings, connection: AbstractRobustConnection, topology: Topology
    ) -> None:
        changed = build_topology(
            retry_delays_ms=settings.retry_delays_ms,
            delivery_limit=settings.delivery_limit + 1,
            prefix=topology.prefix,
        )
        async with connection.channel() as channel:
            with pytest.raises(TopologyError, match=r"ingress\.raw.*fresh vhost"):
                await declare_topology(channel, changed)


class TestPublisher:
    async def test_thousand_concurrent_confirmed_publishes_all_land(
        self, connection: AbstractRobustConnection, topology: Topology, publisher: Publisher
    ) -> None:
        rk = routing_key(RAW_WEBHOOKS, "whatsapp")
        await asyncio.gather(
            *(publisher.publish(rk, b'{"n": %d}' % i, message_id=f"m-{i}") for i in range(1000))
        )
        # Confirmed means enqueued; the count may trail the confirms by a moment, hence the deadline.
        deadline = time.monotonic() + 10
        while (n := await message_count(connection, topology.queue_name(RAW_WEBHOOKS))) < 1000:
            assert time.monotonic() < deadline, f"only {n} of 1000 messages in the queue"
            await asyncio.sleep(0.05)
        assert n == 1000

    async def test_unroutable_routing_key_raises(self, publisher: Publisher) -> None:
        with pytest.raises(PublishError, match="unroutable"):
            await publisher.publish("no.such.binding", b"{}", message_id="x")

    async def test_missing_queue_raises_and_publisher_keeps_working(
        self, connection: AbstractRobustConnection, topology: Topology, publisher: Publisher
    ) -> None:
        with pytest.raises(PublishError):
            await publisher.publish_to_queue("no-such-queue", b"{}", message_id="x")
        with pytest.raises(PublishError):  # unknown exchange closes the channel; it must be reopened
            await publisher.publish("a.b", b"{}", message_id="y", exchange="no-such-exchange")
        await publisher.publish_to_queue(topology.queue_name(RAW_WEBHOOKS), b"{}", message_id="z")
        deadline = time.monotonic() + 5
        while await message_count(connection, topology.queue_name(RAW_WEBHOOKS)) != 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)

    async def test_closed_connection_raises(self, settings: Settings, topology: Topology) -> None:
        conn = await connect(settings.rabbitmq_url, name="test-closed")
        pub = Publisher(conn, exchange=topology.events_exchange, timeout=1)
        await pub.start()
        await conn.close()
        with pytest.raises(PublishError):
            await pub.publish(routing_key(RAW_WEBHOOKS, "whatsapp"), b"{}", message_id="x")
