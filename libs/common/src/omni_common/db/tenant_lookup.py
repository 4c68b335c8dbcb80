"""Which tenant a caller means and whether its database may be used now: the catalog's row, briefly
cached, read once however many callers miss it together.

``TenantEngineRegistry`` asks here before it leases a connection: an unknown, inactive or (for a
writer) moving tenant is refused before any connection is spent on it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

from omni_common.db.catalog import Catalog, TenantRecord
from omni_common.db.connect_errors import MOVING_RECHECK_S
from omni_common.errors import NoTenantContext, TenantHeld, TenantNotActive, TenantNotFound


@dataclass
class _Cached:
    tenant: TenantRecord
    expires: float


@dataclass
class TenantLookup:
    """The catalog's tenant rows as one process sees them (``cache_seconds`` old at most)."""

    catalog: Catalog
    cache_seconds: float = 5.0
    # While a tenant's database is being moved (``tenant_moves``) its writers wait (TenantHeld); a
    # reader (the inbox) goes on reading the source, which the move keeps read-only until the switch.
    read_while_moving: bool = False
    _tenants: dict[uuid.UUID, _Cached] = field(default_factory=dict, init=False)
    _lookups: dict[uuid.UUID, asyncio.Future[_Cached]] = field(default_factory=dict, init=False)

    async def tenant(self, tenant_id: uuid.UUID | None) -> TenantRecord:
        """The active tenant ``tenant_id`` (briefly cached), or TenantNotFound/NotActive/NoTenantContext."""
        if tenant_id is None:
            raise NoTenantContext("no tenant given: tenant data needs a resolved tenant")
        cached = self._tenants.get(tenant_id)
        if cached is None or cached.expires < time.monotonic():
            # Single flight: under load hundreds of handlers miss at once; one catalog read serves
            # them all instead of exhausting the catalog's small pool.
            lookup = self._lookups.get(tenant_id)
            if lookup is None:
                lookup = self._lookups[tenant_id] = asyncio.ensure_future(self._load(tenant_id))
                lookup.add_done_callback(lambda _f: self._lookups.pop(tenant_id, None))
            cached = await asyncio.shield(lookup)
        if cached.tenant.status != "active":
            raise TenantNotActive(f"tenant {cached.tenant.slug} is {cached.tenant.status}")
        if cached.tenant.moving and not self.read_while_moving:
            raise TenantHeld(f"tenant {cached.tenant.slug} is moving to another database server")
        return cached.tenant

    async def _load(self, tenant_id: uuid.UUID) -> _Cached:
        record = await self.catalog.get_tenant(tenant_id)
        if record is None:
            self._tenants.pop(tenant_id, None)
            raise TenantNotFound(f"no tenant {tenant_id}")
        # A tenant being moved is looked up again soon: its writers resume as soon as the move ends.
        ttl = min(self.cache_seconds, MOVING_RECHECK_S) if record.moving else self.cache_seconds
        cached = _Cached(record, time.monotonic() + ttl)
        self._tenants[tenant_id] = cached
        return cached

    def forget(self, tenant_id: uuid.UUID) -> None:
        """Drop the cached row (e.g. after a status change made by this process)."""
        self._tenants.pop(tenant_id, None)

    async def moved_since(self, tenant: TenantRecord) -> bool:
        """Whether the catalog now says ``tenant`` is moving, or on another server (cache refreshed)."""
        self.forget(tenant.id)
        fresh = await self.catalog.get_tenant(tenant.id)
        return fresh is not None and (fresh.moving or fresh.server != tenant.server)
