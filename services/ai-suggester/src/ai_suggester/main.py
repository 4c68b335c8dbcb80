"""Composition root of ai-suggester: the only place that reads settings and opens connections."""

from __future__ import annotations

import structlog

from ai_suggester.context import Budget
from ai_suggester.handler import SuggestHandler
from ai_suggester.model import ModelClient
from omni_common import runtime
from omni_common.broker.subscription import Subscription
from omni_common.contracts import SuggestReply
from omni_common.contracts.routing import AI_REQUESTS
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.privileges import refuse_superuser
from omni_common.db.service_registry import registry_for
from omni_common.logging import configure_logging
from omni_common.settings import Settings
from omni_common.startup_checks import refuse_unsafe_settings
from omni_common.worker import BrokerAccess, Consumers, HandlerFactory, run_worker_from_settings

SERVICE = "ai-suggester"
# Each request holds a model call for seconds: a small prefetch spreads them over replicas.
MAX_PREFETCH = 16
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


def build_handlers(settings: Settings, *, model: ModelClient | None, budget: Budget) -> HandlerFactory:
    """The handler factory the worker base calls once the broker is up."""

    async def build(broker: BrokerAccess) -> Consumers:
        engine = catalog_engine(settings.database_url)
        registry = registry_for(settings, Catalog(engine), name="ai")
        handler = SuggestHandler(
            session=registry.session,
            begin=registry.begin,
            publisher=broker.publisher,
            model=model,
            budget=budget,
        )

        async def cleanup() -> None:
            if model is not None:
                await model.close()
            await registry.close()
            await engine.dispose()

        log.info("suggester_ready", source=model.model if model else "local")
        return [Subscription(AI_REQUESTS, SuggestReply, handler)], cleanup

    return build


def main() -> None:
    """Consume this service's queue until SIGTERM."""
    settings = Settings()
    configure_logging(service=SERVICE, json=settings.log_json, level=settings.log_level)
    refuse_unsafe_settings(SERVICE, settings)
    # Its own database role, never a superuser, in production (db/privileges.py).
    refuse_superuser(SERVICE, settings.database_url, settings.env)
    build = build_handlers(
        settings,
        model=model_from_settings(settings),
        budget=Budget(settings.ai_suggestions_per_minute, settings.ai_tokens_per_day),
    )
    runtime.run(run_worker_from_settings(SERVICE, settings, build, max_prefetch=MAX_PREFETCH))
