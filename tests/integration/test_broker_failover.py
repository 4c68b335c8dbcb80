"""Several broker URLs: the first reachable node is used, and a lost connection moves to the next one.

Against the real RabbitMQ on 127.0.0.1 (this session's vhost): the "nodes" are a TCP proxy in front of
it (cut to make a node die), a port where nothing listens (a node that stays down) and the broker
itself. The chaos suite's ``test_chaos_cluster.py`` does the same against a real 3-node cluster.
"""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest
from chaos.chaos_proxy import TcpProxy
from pipeline import await_until
from prometheus_client import REGISTRY
from sandbox_server import free_port

from omni_common.broker import Publisher, PublishError, connect
from omni_common.broker.cluster import ClusterConnection
from omni_common.ops.queue_depth import QueueDepthGauges, management_endpoint
from omni_common.settings import Settings

pytestmark = pytest.mark.integration


def _on_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    return urlunsplit(parts._replace(netloc=f"{netloc}:{port}"))


async def test_one_url_is_the_plain_robust_connection(settings: Settings) -> None:
    connection = await connect(settings.rabbitmq_url, name="test-one-node")
    try:
        assert type(connection) is aio_pika.RobustConnection
    finally:
        await connection.close()


async def test_the_first_reachable_node_in_the_order_given(settings: Settings) -> None:
    dead = [_on_port(settings.rabbitmq_url, free_port()) for _ in range(2)]
    connection = await connect(",".join([*dead, settings.rabbitmq_url]), name="test-first-reachable")
    try:
        assert isinstance(connection, ClusterConnection)
        assert connection.node == f"127.0.0.1:{urlsplit(settings.rabbitmq_url).port or 5672}"
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        publisher = Publisher(connection)
        await publisher.start()
        await publisher.publish_to_queue(queue.name, b"{}", message_id="m1")
        assert (await queue.get(timeout=5)).message_id == "m1"
        await publisher.close()
    finally:
        await connection.close()


async def test_no_node_reachable_fails_like_one_unreachable_url(settings: Settings) -> None:
    dead = [_on_port(settings.rabbitmq_url, free_port()) for _ in range(2)]
    with pytest.raises(ConnectionError):
        await connect(",".join(dead), name="test-none-reachable")


async def test_a_lost_node_moves_the_connection_and_its_consumer_to_the_next_live_node(
    settings: Settings,
) -> None:
    """Node 1 dies (its proxy cuts), node 2 stays down, node 3 is live: the robust connection tries 2,
    then 3, restores its channel and consumer there, and messages published meanwhile arrive."""
    broker = urlsplit(settings.rabbitmq_url)
    first = TcpProxy("rabbitmq-node-1", broker.hostname or "127.0.0.1", broker.port or 5672)
    first.start()
    down = _on_port(settings.rabbitmq_url, free_port())
    urls = [_on_port(settings.rabbitmq_url, first.port), down, settings.rabbitmq_url]
    queue_name = f"failover-{uuid.uuid4().hex[:8]}"
    connection = await connect(",".join(urls), name="test-failover", reconnect_interval=0.2)
    side = await aio_pika.connect(settings.rabbitmq_url)
    try:
        assert isinstance(connection, ClusterConnection)
        assert connection.node == f"127.0.0.1:{first.port}"
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, auto_delete=True)
        got: list[str] = []

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            got.append(message.message_id or "")
            await message.ack()

        await queue.consume(on_message)
        side_channel = await side.channel()
        await side_channel.default_exchange.publish(aio_pika.Message(b"1", message_id="before"), queue_name)
        await await_until(lambda: _true(got == ["before"]), timeout=10, what="the message before the cut")

        assert first.cut() == 1
        await await_until(
            lambda: _true(connection.connected.is_set() and connection.node != f"127.0.0.1:{first.port}"),
            timeout=20,
            what="the connection on another node",
        )
        assert connection.node == f"127.0.0.1:{broker.port or 5672}"  # node 2 was skipped
        await side_channel.default_exchange.publish(aio_pika.Message(b"2", message_id="after"), queue_name)
        await await_until(lambda: _true("after" in got), timeout=20, what="the consumer restored on node 3")
    finally:
        await side.close()
        await connection.close()
        first.close()


async def _true(value: bool) -> bool:
    return value


async def test_queue_depths_come_from_the_first_management_api_that_answers(
    settings: Settings, services
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    endpoint = management_endpoint(settings.rabbitmq_url, f"{dead},{services.mgmt_url}")
    assert endpoint is not None
    assert len(endpoint.base_urls) == 2
    channel_conn = await aio_pika.connect(settings.rabbitmq_url)
    name = f"depth-{uuid.uuid4().hex[:8]}"
    try:
        channel = await channel_conn.channel()
        await channel.declare_queue(name, auto_delete=False)
        gauges = QueueDepthGauges(endpoint, [name], timeout_s=1.0, min_interval_s=0)
        before = REGISTRY.get_sample_value("omni_queue_depth_errors_total") or 0
        try:
            assert await gauges.refresh() is True
            assert await gauges.refresh() is True  # the answering node is kept: no new time-out
        finally:
            await gauges.aclose()
        assert (REGISTRY.get_sample_value("omni_queue_depth_errors_total") or 0) == before
        assert REGISTRY.get_sample_value("omni_queue_messages", {"queue": name, "state": "ready"}) == 0
        await channel.queue_delete(name)
    finally:
        await asyncio.shield(channel_conn.close())


async def test_a_nack_gives_the_publisher_a_new_channel(settings: Settings) -> None:
    """After a failover RabbitMQ may nack every publish of a channel (see Publisher._renew_after_nack):
    a nack makes the next publish use a new channel. Here the nack comes from a full queue."""
    connection = await connect(settings.rabbitmq_url, name="test-nack")
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            f"full-{uuid.uuid4().hex[:8]}",
            auto_delete=True,
            arguments={"x-max-length": 1, "x-overflow": "reject-publish"},
        )
        publisher = Publisher(connection)
        await publisher.start()
        await publisher.publish_to_queue(queue.name, b"{}", message_id="1")
        before = publisher._channel
        with pytest.raises(PublishError, match="nack"):
            await publisher.publish_to_queue(queue.name, b"{}", message_id="2")
        await queue.purge()
        await publisher.publish_to_queue(queue.name, b"{}", message_id="3")
        assert publisher._channel is not before
        assert before is not None
        assert before.is_closed
        await publisher.close()
    finally:
        await connection.close()
