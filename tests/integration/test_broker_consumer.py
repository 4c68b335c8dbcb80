"""ConsumerRunner and the dead-letter tools against the real broker: ack, retry, dead-letter, replay, stop."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import quote

import aio_pika
import httpx
import pytest
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from prometheus_client import REGISTRY

from omni_common.broker import (
    ConsumerRunner,
    DeadLetter,
    DeadLetterInfo,
    DeadLetterParts,
    Delivery,
    Handler,
    Publisher,
    PublishError,
    Retry,
    Topology,
    build_topology,
    connect,
    declare_topology,
    list_dead_letters,
    replay,
    show,
)
from omni_common.broker.outcomes import Part
from omni_common.contracts.routing import RAW_WEBHOOKS, routing_key
from omni_common.settings import Settings

pytestmark = pytest.mark.integration

RK = routing_key(RAW_WEBHOOKS, "whatsapp")
WAIT = 10.0  # generous upper bound for any single wait; tests normally finish far sooner


@pytest.fixture
async def connection(settings: Settings) -> AsyncIterator[AbstractRobustConnection]:
    conn = await connect(settings.rabbitmq_url, name="test-broker-consumer")
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


@pytest.fixture(params=[True, False], ids=["batched-acks", "acks-one-by-one"])
async def make_runner(
    request: pytest.FixtureRequest,
    connection: AbstractRobustConnection,
    topology: Topology,
    publisher: Publisher,
) -> AsyncIterator[Callable[..., Awaitable[ConsumerRunner]]]:
    """Start runners on the raw-webhooks stage; every one still running is stopped at teardown."""
    runners: list[ConsumerRunner] = []

    async def make(handler: Handler, *, prefetch: int = 10) -> ConsumerRunner:
        runner = ConsumerRunner(
            connection,
            queue=RAW_WEBHOOKS,
            handler=handler,
            topology=topology,
            prefetch=prefetch,
            publisher=publisher,
            name="test",
            batch_acks=request.param,
        )
        await runner.start()
        runners.append(runner)
        return runner

    yield make
    for runner in runners:  # stop() is idempotent: tests that stopped theirs are unaffected
        await runner.stop()


async def message_count(connection: AbstractRobustConnection, queue: str) -> int:
    async with connection.channel() as channel:
        q = await channel.declare_queue(queue, passive=True)
        return q.declaration_result.message_count or 0


async def wait_count(connection: AbstractRobustConnection, queue: str, expected: int) -> None:
    """Wait (with a deadline) until ``queue`` holds ``expected`` ready messages.

    Quorum queues apply acks, requeues and dead-lettering asynchronously, and a loaded broker was
    seen reporting counts seconds late, so a count is only ever asserted eventually.
    """
    deadline = time.monotonic() + WAIT
    while (n := await message_count(connection, queue)) != expected:
        assert time.monotonic() < deadline, f"{queue}: {n} messages, wanted {expected}"
        await asyncio.sleep(0.05)


async def wait_for_dead_letters(
    connection: AbstractRobustConnection, topology: Topology, n: int = 1
) -> list[DeadLetterInfo]:
    """Poll the DLQs (with a deadline) until ``n`` dead letters are there."""
    deadline = time.monotonic() + WAIT
    while len(found := await list_dead_letters(connection, topology)) < n:
        assert time.monotonic() < deadline, f"{len(found)} dead letters, wanted {n}"
        await asyncio.sleep(0.05)
    return found


async def send(publisher: Publisher, message_id: str = "m-1", body: bytes = b'{"hello": "world"}') -> None:
    await publisher.publish(RK, body, message_id=message_id, correlation_id=f"c-{message_id}")


class TestHandling:
    async def test_success_acks_with_log_context_bound(
        self, connection: AbstractRobustConnection, topology: Topology, publisher: Publisher, make_runner
    ) -> None:
        seen: list[tuple[Delivery, dict]] = []
        done = asyncio.Event()

        async def handler(d: Delivery) -> None:
            seen.append((d, structlog.contextvars.get_contextvars()))
            done.set()

        runner = await make_runner(handler)
        await send(publisher)
        await asyncio.wait_for(done.wait(), WAIT)
        await runner.stop()

        delivery, ctx = seen[0]
        assert (delivery.message_id, delivery.correlation_id, delivery.routing_key) == ("m-1", "c-m-1", RK)
        assert (delivery.attempt, delivery.delivery_count, delivery.body) == (1, 0, b'{"hello": "world"}')
        assert ctx["message_id"] == "m-1"
        assert ctx["correlation_id"] == "c-m-1"
        assert ctx["queue"] == topology.queue_name(RAW_WEBHOOKS)
        await wait_count(connection, topology.queue_name(RAW_WEBHOOKS), 0)

    async def test_deliveries_finishing_out_of_order_are_all_acked_once(
        self, connection: AbstractRobustConnection, topology: Topology, publisher: Publisher, make_runner
    ) -> None:
        handled: list[str] = []

        async def handler(d: Delivery) -> None:
            # Later deliveries finish first: batched acks must wait, then ack the stragglers alone.
            await asyncio.sleep(0.002 * (len(d.message_id) % 7) + (0.3 if d.message_id == "m-3" else 0))
            handled.append(d.message_id)

        runner = await make_runner(handler, prefetch=40)
        await asyncio.gather(*(send(publisher, f"m-{i}") for i in range(120)))
        await wait_count(connection, topology.queue_name(RAW_WEBHOOKS), 0)
        while len(handled) < 120:
            await asyncio.sleep(0.01)
        await runner.stop()  # sends the acks still owed before it closes the channel
        assert sorted(handled) == sorted(f"m-{i}" for i in range(120))  # none twice: none redelivered
        async with connection.channel() as channel:
            q = await channel.declare_queue(topology.queue_name(RAW_WEBHOOKS), passive=True)
            assert q.declaration_result.message_count == 0  # nothing requeued by the channel's close

    async def test_retry_twice_then_success_through_growing_delays(
        self,
        settings: Settings,
        connection: AbstractRobustConnection,
        topology: Topology,
        publisher: Publisher,
        make_runner,
    ) -> None:
        calls: list[tuple[int, float, str, str | None]] = []
        successes = 0
        done = asyncio.Event()

        async def handler(d: Delivery) -> None:
            nonlocal successes
            calls.append((d.attempt, time.monotonic(), d.routing_key, d.headers.get("x-omni-last-error")))
            if d.attempt < 3:
                raise Retry("tenant_db_down", "try later")
            successes += 1
            done.set()

        runner = await make_runner(handler)
        await send(publisher)
        await asyncio.wait_for(done.wait(), WAIT)
        await runner.stop()

        assert [c[0] for c in calls] == [1, 2, 3]
        first_delay, second_delay = calls[1][1] - calls[0][1], calls[2][1] - calls[1][1]
        assert first_delay >= settings.retry_delays_ms[0] / 1000 * 0.9
        assert second_delay >= settings.retry_delays_ms[1] / 1000 * 0.9
        assert second_delay > first_delay
        assert all(c[2] == RK for c in calls)  # the original routing key survives the detour
        assert calls[2][3] == "tenant_db_down"
        assert successes == 1
        stage = topology.stage(RAW_WEBHOOKS)
        retries = {"queue": stage.queue, "reason": "tenant_db_down"}
        assert REGISTRY.get_sample_value("omni_retries_total", retries) == 2
        for q in (stage.queue, *stage.retry_queues, stage.dlq):
            await wait_count(connection, q, 0)

    async def test_always_failing_ends_in_dlq_and_replay_brings_it_back(
        self,
        settings: Settings,
        connection: AbstractRobustConnection,
        topology: Topology,
        publisher: Publisher,
        make_runner,
    ) -> None:
        attempts: list[int] = []
        fixed = False
        processed = asyncio.Event()

        async def handler(d: Delivery) -> None:
            attempts.append(d.attempt)
            if not fixed:
                raise ValueError("bug in the normalizer")
            processed.set()

        runner = await make_runner(handler)
        await send(publisher)
        [info] = await wait_for_dead_letters(connection, topology)

        assert attempts == list(range(1, len(settings.retry_delays_ms) + 2))
        stage = topology.stage(RAW_WEBHOOKS)
        assert (info.id, info.queue, info.source_queue) == ("m-1", stage.dlq, stage.queue)
        assert info.reason == "error:ValueError"
        assert info.detail == "bug in the normalizer"
        retried = {"queue": stage.queue, "reason": "error:ValueError"}
        assert REGISTRY.get_sample_value("omni_retries_total", retried) == len(settings.retry_delays_ms)
        assert info.routing_key == RK
        assert info.headers["x-omni-dlq-reason"] == "error:ValueError"
        assert info.dead_lettered_at is not None
        assert info.body_size == len(b'{"hello": "world"}')
        # Listing leaves the message where it is.
        await wait_count(connection, stage.dlq, 1)
        shown = await show(connection, topology, "m-1")
        assert shown is not None
        assert shown.body == b'{"hello": "world"}'

        dry = await replay(connection, topology, publisher, ids=["m-1"], dry_run=True)
        assert [i.id for i in dry.replayed] == ["m-1"]
        await wait_count(connection, stage.dlq, 1)

        fixed = True
        attempts.clear()
        report = await replay(connection, topology, publisher, ids=["m-1"])
        assert [i.id for i in report.replayed] == ["m-1"]
        assert report.failed == []
        await asyncio.wait_for(processed.wait(), WAIT)
        await runner.stop()
        assert attempts == [1]
        await wait_count(connection, stage.dlq, 0)
        await wait_count(connection, stage.queue, 0)

    async def test_dead_letter_goes_straight_to_dlq(
        self, connection: AbstractRobustConnection, topology: Topology, publisher: Publisher, make_runner
    ) -> None:
        attempts: list[int] = []

        async def handler(d: Delivery) -> None:
            attempts.append(d.attempt)
            raise DeadLetter("invalid_payload", "x" * 2000)

        runner = await make_runner(handler)
        await send(publisher, "bad-1")
        await send(publisher, "bad-2")
        found = await wait_for_dead_letters(connection, topology, 2)
        await runner.stop()
        assert attempts == [1, 1]
        assert sorted(i.id for i in found) == ["bad-1", "bad-2"]
        assert {i.reason for i in found} == {"invalid_payload"}
        assert all(len(i.detail) == 500 for i in found)
        assert await list_dead_letters(connection, topology, reason="other") == []
        assert len(await list_dead_letters(connection, topology, queue=RAW_WEBHOOKS)) == 2

        # Replay by reason, all ids: both go back.
        report = await replay(connection, topology, publisher, reason="invalid_payload")
        assert sorted(i.id for i in report.replayed) == ["bad-1", "bad-2"]
        await wait_count(connection, topology.stage(RAW_WEBHOOKS).dlq, 0)
        await wait_count(connection, topology.queue_name(RAW_WEBHOOKS), 2)

    async def test_dead_letter_parts_parks_each_part_alone_and_acks_the_message(
        self, connection: AbstractRobustConnection, topology: Topology, publisher: Publisher, make_runner
    ) -> None:
        attempts: list[int] = []

        async def handler(d: Delivery) -> None:
            attempts.append(d.attempt)
            if d.headers.get("x-omni-replayed-at") is None:  # a replayed part is handled fine
                raise DeadLetterParts(
                    [
                        Part(b'{"part": 1}', "ev-1", "c-ev-1", "malformed", "bad value"),
                        Part(b'{"part": 3}', "ev-3", "c-ev-3", "account_not_in_tenant", "no such account"),
                    ]
                )

        runner = await make_runner(handler)
        await publisher.publish(
            RK, b'{"parts": [1, 2, 3]}', message_id="batch-1", headers={"x-omni-tenant-id": "t-1"}
        )
        found = sorted(await wait_for_dead_letters(connection, topology, 2), key=lambda i: i.id)
        stage = topology.stage(RAW_WEBHOOKS)
        await wait_count(connection, stage.queue, 0)  # the message itself is acked, not retried
        assert attempts == [1]
        assert [(i.id, i.reason, i.correlation_id, i.source_queue) for i in found] == [
            ("ev-1", "malformed", "c-ev-1", stage.queue),
            ("ev-3", "account_not_in_tenant", "c-ev-3", stage.queue),
        ]
        assert all(i.headers["x-omni-tenant-id"] == "t-1" and i.routing_key == RK for i in found)
        shown = await show(connection, topology, "ev-3")
        assert shown is not None
        assert shown.body == b'{"part": 3}'

        report = await replay(connection, topology, publisher, ids=["ev-3"])
        assert [i.id for i in report.replayed] == ["ev-3"]
        await wait_count(connection, stage.dlq, 1)
        await wait_count(connection, stage.queue, 0)
        await runner.stop()
        assert attempts == [1, 1]

    async def test_messages_are_handled_concurrently_up_to_prefetch(
        self, topology: Topology, publisher: Publisher, make_runner
    ) -> None:
        gate = asyncio.Event()
        started = 0
        all_started = asyncio.Event()

        async def handler(d: Delivery) -> None:
            nonlocal started
            started += 1
            if started == 5:
                all_started.set()
            await gate.wait()

        runner = await make_runner(handler, prefetch=5)
        for i in range(5):
            await send(publisher, f"c-{i}")
        await asyncio.wait_for(all_started.wait(), WAIT)  # would time out if handled one by one
        assert runner.in_flight == 5
        gate.set()
        await runner.stop()
        assert runner.in_flight == 0


class TestCrashLoop:
    async def test_crash_loop_ends_in_dlq_through_delivery_limit(
        self,
        settings: Settings,
        connection: AbstractRobustConnection,
        topology: Topology,
        publisher: Publisher,
    ) -> None:
        queue = topology.queue_name(RAW_WEBHOOKS)
        await send(publisher, "crash-1")
        counts: list[int] = []
        for _ in range(settings.delivery_limit + 3):
            # A consumer that dies before acking: a plain connection, closed while holding the message.
            conn = await aio_pika.connect(settings.rabbitmq_url)
            try:
                got: asyncio.Future[AbstractIncomingMessage] = asyncio.get_running_loop().create_future()
                channel = await conn.channel()
                q = await channel.get_queue(queue)

                async def hold(
                    m: AbstractIncomingMessage, got: asyncio.Future[AbstractIncomingMessage] = got
                ) -> None:
                    if not got.done():
                        got.set_result(m)

                await q.consume(hold)
                try:
                    message = await asyncio.wait_for(got, 0.5)
                except TimeoutError:
                    break  # dead-lettered: nothing left to deliver
                counts.append(int((message.headers or {}).get("x-delivery-count", 0)))
            finally:
                await conn.close()
        # Quorum queues count every return; past the limit the broker dead-letters instead of delivering.
        assert counts == list(range(len(counts)))
        assert settings.delivery_limit <= len(counts) <= settings.delivery_limit + 1
        [info] = await wait_for_dead_letters(connection, topology)
        assert info.id == "crash-1"
        assert info.reason == "delivery_limit"
        assert info.source_queue == queue
        assert info.routing_key == RK
        assert "x-omni-dlq-reason" not in info.headers


class TestGracefulStop:
    async def test_stop_waits_for_in_flight_handler_and_acks_it(
        self, connection: AbstractRobustConnection, topology: Topology, publisher: Publisher, make_runner
    ) -> None:
        started, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def handler(d: Delivery) -> None:
            started.set()
            await release.wait()
            finished.set()

        runner = await make_runner(handler)
        await send(publisher)
        await asyncio.wait_for(started.wait(), WAIT)
        stopping = asyncio.create_task(runner.stop())
        # stop() must not return while the handler runs; give it a chance to (wrongly) finish first.
        await asyncio.sleep(0.1)
        assert not stopping.done()
        await send(publisher, "after-stop")  # cancelled consumer: must stay in the queue
        release.set()
        await asyncio.wait_for(stopping, WAIT)
        assert finished.is_set()
        await wait_count(connection, topology.queue_name(RAW_WEBHOOKS), 1)

    async def test_run_until_stopped(
        self, connection: AbstractRobustConnection, topology: Topology, publisher: Publisher
    ) -> None:
        stop = asyncio.Event()
        handled = asyncio.Event()

        async def handler(d: Delivery) -> None:
            handled.set()
            stop.set()

        runner = ConsumerRunner(
            connection,
            queue=topology.queue_name(RAW_WEBHOOKS),
            handler=handler,
            topology=topology,
            prefetch=1,
            name="test",
        )
        task = asyncio.create_task(runner.run_until_stopped(stop))
        await send(publisher)
        await asyncio.wait_for(task, WAIT)
        assert handled.is_set()
        await wait_count(connection, topology.queue_name(RAW_WEBHOOKS), 0)


class TestReconnect:
    async def test_publisher_fails_fast_while_down_and_consumer_resumes_after_reconnect(
        self, settings: Settings, topology: Topology, mgmt: httpx.Client
    ) -> None:
        conn = await connect(f"{settings.rabbitmq_url}?reconnect_interval=0.1", name="test-reconnect")
        publisher = Publisher(conn, exchange=topology.events_exchange)
        handled: asyncio.Queue[str] = asyncio.Queue()

        async def handler(d: Delivery) -> None:
            await handled.put(d.message_id)

        runner = ConsumerRunner(
            conn,
            queue=RAW_WEBHOOKS,
            handler=handler,
            topology=topology,
            prefetch=10,
            publisher=publisher,
            name="test",
        )
        await runner.start()
        try:
            await send(publisher, "before")
            assert await asyncio.wait_for(handled.get(), WAIT) == "before"
            # Acks go out a few ms after the handler returns; a connection lost before that
            # redelivers the message (at least once), which is not what this test is about.
            while runner.acks_owed or runner.in_flight:
                await asyncio.sleep(0.005)

            # Lose the connection and keep the broker from taking us back until we allow it again.
            # (Safe: tests of one process run one at a time, and this session's vhost is ours alone.)
            vhost = quote(settings.rabbitmq_url.rsplit("/", 1)[1], safe="")
            mgmt.delete(f"/api/permissions/{vhost}/guest").raise_for_status()
            try:
                await conn.transport.connection.close()
                assert not conn.connected.is_set()
                with pytest.raises(PublishError, match="down"):
                    await send(publisher, "while-down")
            finally:
                mgmt.put(
                    f"/api/permissions/{vhost}/guest", json={"configure": ".*", "write": ".*", "read": ".*"}
                ).raise_for_status()

            await asyncio.wait_for(conn.connected.wait(), WAIT)
            # The robust connection restores channels and the consumer; publishing works again.
            deadline = time.monotonic() + WAIT
            while True:
                try:
                    await send(publisher, "after")
                    break
                except PublishError:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.05)
            assert await asyncio.wait_for(handled.get(), WAIT) == "after"
        finally:
            await runner.stop()
            await publisher.close()
            await conn.close()
