"""A worker's ``/metrics``: queue depths read from the management API at scrape time, handler latency."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

import httpx
import pytest
from pipeline import WorkerThread, wait_until
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sandbox_server import free_port

from omni_common.broker import Publisher, build_topology, connect
from omni_common.broker.consumer import Delivery
from omni_common.broker.subscription import Subscription
from omni_common.contracts import RawWebhook, encode_raw_webhook
from omni_common.contracts.routing import RAW_WEBHOOKS, ROUTED_EVENTS
from omni_common.ops.queue_depth import QUEUE_MESSAGES, ManagementEndpoint, QueueDepthGauges
from omni_common.settings import Settings
from omni_common.worker import BrokerAccess, Consumers, nothing_to_clean

pytestmark = pytest.mark.integration


Samples = Mapping[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus exposition, keyed by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def _publish(url: str, queue: str, n: int) -> None:
    async def main() -> None:
        conn = await connect(url, name="test-worker-metrics")
        try:
            pub = Publisher(conn)
            await pub.start()
            for i in range(n):
                body = encode_raw_webhook(
                    delivery_id=f"{queue}-{i}", channel="whatsapp", received_at=datetime.now(UTC), body=b"{}"
                )
                await pub.publish_to_queue(queue, body, message_id=f"{queue}-{i}")
            await pub.close()
        finally:
            await conn.close()

    asyncio.run(main())


def test_queue_depths_and_handler_latency_are_on_a_workers_metrics(settings: Settings) -> None:
    topology = build_topology(
        retry_delays_ms=settings.retry_delays_ms,
        delivery_limit=settings.delivery_limit,
        prefix=f"wm{uuid.uuid4().hex[:8]}.",
        only_stages=(RAW_WEBHOOKS, ROUTED_EVENTS),
    )
    raw, routed = topology.stage(RAW_WEBHOOKS), topology.stage(ROUTED_EVENTS)
    release = threading.Event()

    async def hold(_raw: RawWebhook, _delivery: Delivery) -> None:
        # Keeps its message unacked until the test has read the depths.
        while not release.is_set():
            await asyncio.sleep(0.02)

    async def build(_broker: BrokerAccess) -> Consumers:
        # Routed events: nobody consumes them here.
        return [Subscription(raw.queue, RawWebhook, hold)], nothing_to_clean

    port = free_port()
    worker = WorkerThread(
        "metrics-worker",
        service="metrics-test",
        rabbitmq_url=settings.rabbitmq_url,
        topology=topology,
        prefetch=2,
        build_handlers=build,
        health_port=port,
    )
    worker.start()
    base = f"http://127.0.0.1:{port}"
    try:
        _publish(settings.rabbitmq_url, raw.queue, 5)
        _publish(settings.rabbitmq_url, routed.queue, 3)
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        expected = {
            (raw.queue, "ready"): 3.0,
            (raw.queue, "unacked"): 2.0,  # the prefetch, held by the handler
            (routed.queue, "ready"): 3.0,
            (routed.queue, "unacked"): 0.0,
            (raw.dlq, "ready"): 0.0,
            (raw.retry_queues[0], "ready"): 0.0,
        }

        def depths_match() -> bool:
            found = samples(httpx.get(f"{base}/metrics", timeout=5).text)
            return all(
                value(found, "omni_queue_messages", queue=q, state=s) == v for (q, s), v in expected.items()
            )

        # The management API refreshes queue figures every few seconds (5 s by default).
        wait_until(depths_match, timeout=40, interval=0.5, what="queue depths on the worker's /metrics")

        release.set()

        def handled() -> bool:
            found = samples(httpx.get(f"{base}/metrics", timeout=5).text)
            count = value(found, "omni_handler_seconds_count", queue=raw.queue) or 0
            bucket = value(found, "omni_handler_seconds_bucket", queue=raw.queue, le="+Inf") or 0
            return count >= 5 and bucket >= 5

        wait_until(handled, timeout=20, what="omni_handler_seconds of the five messages")
    finally:
        release.set()
        worker.stop()


async def test_an_unreachable_management_api_leaves_the_gauges_and_counts_the_error() -> None:
    queue = f"gone{uuid.uuid4().hex[:8]}"
    gauges = QueueDepthGauges(
        ManagementEndpoint(f"http://127.0.0.1:{free_port()}", "/", "guest", "guest"), [queue], timeout_s=1.0
    )
    QUEUE_MESSAGES.labels(queue, "ready").set(7)
    before = REGISTRY.get_sample_value("omni_queue_depth_errors_total") or 0
    try:
        assert await gauges.refresh() is False
    finally:
        await gauges.aclose()
    assert REGISTRY.get_sample_value("omni_queue_depth_errors_total") == before + 1
    assert REGISTRY.get_sample_value("omni_queue_messages", {"queue": queue, "state": "ready"}) == 7
