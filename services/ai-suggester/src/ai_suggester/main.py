"""Composition root of ai-suggester: the only place that reads settings and opens connections."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractRobustConnection

from omni_common.broker.consumer import Delivery, Handler
from omni_common.broker.outcomes import DeadLetter
from omni_common.broker.publisher import Publisher
from omni_common.broker.topology import AI_REQUESTS, Topology, build_topology
from omni_common.logging import configure_logging
from omni_common.settings import Settings
from omni_common.worker import Cleanup, run_worker

SERVICE = "ai-suggester"


def _handlers(
    topology: Topology,
) -> Callable[[AbstractRobustConnection, Publisher], Awaitable[tuple[dict[str, Handler], Cleanup]]]:
    async def build(
        _connection: AbstractRobustConnection, _publisher: Publisher
    ) -> tuple[dict[str, Handler], Cleanup]:
        return {topology.queue_name(AI_REQUESTS): _not_yet}, _nothing

    return build


async def _nothing() -> None:
    return None


async def _not_yet(_delivery: Delivery) -> None:
    # The consumer loop runs; the feature arrives with its issue. Park rather than drop.
    raise DeadLetter("not_implemented", f"{SERVICE} cannot handle this message yet")


def main() -> None:
    """Consume this service's queue until SIGTERM."""
    settings = Settings()
    configure_logging(service=SERVICE, json=settings.log_json, level=settings.log_level)
    topology = build_topology(
        retry_delays_ms=settings.retry_delays_ms, delivery_limit=settings.delivery_limit
    )
    asyncio.run(
        run_worker(
            service=SERVICE,
            rabbitmq_url=settings.rabbitmq_url,
            topology=topology,
            prefetch=settings.prefetch,
            health_port=settings.health_port or None,
            host=settings.host,
            build_handlers=_handlers(topology),
        )
    )
