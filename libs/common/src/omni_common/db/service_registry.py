"""The tenant engine registry a service builds from its settings (each service's main.py)."""

from __future__ import annotations

from omni_common.db.budget import (
    default_acquire_timeout_s,
    default_connections,
    default_connections_per_tenant,
)
from omni_common.db.catalog import Catalog
from omni_common.db.registry import TenantEngineRegistry
from omni_common.settings import Settings

_READERS = ("inbox", "status")


def registry_for(
    settings: Settings,
    catalog: Catalog,
    *,
    name: str,
    pool_pre_ping: bool = True,
    tenant_cache_seconds: float = 5.0,
) -> TenantEngineRegistry:
    """The registry a service builds from its settings (``name`` shows in pg_stat_activity and picks
    the service's default budget, ``budget.DEFAULT_CONNECTIONS``)."""
    return TenantEngineRegistry(
        pool_pre_ping=pool_pre_ping,
        tenant_cache_seconds=tenant_cache_seconds,
        catalog=catalog,
        server_url=settings.database_url,
        connections_per_server=settings.db_connections_per_server or default_connections(name),
        connections_per_tenant=settings.db_connections_per_tenant or default_connections_per_tenant(name),
        acquire_timeout_s=settings.db_acquire_timeout_s or default_acquire_timeout_s(name),
        application_name_prefix=f"omni-{name}",
        max_idle_engines=settings.tenant_engine_idle_cache,
        # People keep reading their inbox while a move holds the workers (the source is read-only).
        read_while_moving=name in _READERS,
    )
