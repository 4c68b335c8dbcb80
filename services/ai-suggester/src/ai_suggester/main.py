"""Composition root of ai-suggester: the only place that reads settings and opens connections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aio_pika.abc import AbstractRobustConnection

from ai_suggester.context import Budget
from ai_suggester.handler import SuggestHandler
from ai_suggester.model import ModelClient
from omni_common import runtime
from omni_common.broker.consumer import Handler
from omni_common.broker.publisher import Publisher
from omni_common.broker.topology import Topology, build_topology
from omni_common.contracts.routing import AI_REQUESTS
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import registry_for
from omni_common.logging import configure_logging
from omni_common.settings import Settings
from omni_common.worker import Cleanup, run_worker

SERVICE = "ai-suggester"
log = structlog.get_logger(__name__)


def model_from_settings(
    settings: Settings, *, timeout_s: float = 15.0, max_retries: int = 2
) -> ModelClient | None:
    """The model client when ``OMNI_OPENAI_BASE_URL`` is set; None means the local suggester."""
    if not settings.openai_base_url:
        return None
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    return ModelClient(
        base_url=settings.openai_base_url,
        api_key=key,
        model=settings.openai_model or "gpt-4o-mini",
        timeout_s=timeout_s,
        max_retries=max_retries,
    )


def build_handlers(
    settings: Settings, topology: Topology, *, model: ModelClient | None, budget: Budget
) -> Callable[[AbstractRobustConnection, Publisher], Awaitable[tuple[dict[str, Handler], Cleanup]]]:
    """The handler factory ``run_worker`` calls once the broker is up."""

    async def build(
        _connection: AbstractRobustConnection, publisher: Publisher
    ) -> tuple[dict[str, Handler], Cleanup]:
        engine = catalog_engine(settings.database_url)
        registry = registry_for(settings, Catalog(engine), name="ai")
        handler = SuggestHandler(
            session=registry.session, begin=registry.begin, publisher=publisher, model=model, budget=budget
        )

        async def cleanup() -> None:
            if model is not None:
                await model.close()
            await registry.close()
            await engine.dispose()

        log.info("suggester_ready", source=model.model if model else "local")
        return {topology.queue_name(AI_REQUESTS): handler}, cleanup

    return build


def main() -> None:
    """Consume this service's queue until SIGTERM."""
    settings = Settings()
    configure_logging(service=SERVICE, json=settings.log_json, level=settings.log_level)
    topology = build_topology(
        retry_delays_ms=settings.retry_delays_ms, delivery_limit=settings.delivery_limit
    )
    runtime.run(
        run_worker(
            service=SERVICE,
            rabbitmq_url=settings.rabbitmq_url,
            topology=topology,
            # Each request holds a model call for seconds: a small prefetch spreads them over replicas.
            prefetch=min(settings.prefetch, 16),
            health_port=settings.health_port or None,
            management_url=settings.rabbitmq_management_url,
            host=settings.host,
            build_handlers=build_handlers(
                settings, topology, model=model_from_settings(settings), budget=Budget()
            ),
        )
    )
