"""Pure routing decision: may an event for this account reach a tenant, and if not, why."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from omni_common.contracts import reasons


class AccountRoute(Protocol):
    """What the catalog knows of a platform account (see ``omni_common.db.catalog``)."""

    @property
    def tenant_id(self) -> uuid.UUID: ...

    @property
    def tenant_status(self) -> str: ...

    @property
    def is_enabled(self) -> bool: ...


@dataclass(frozen=True)
class Routed:
    tenant_id: uuid.UUID


@dataclass(frozen=True)
class Refused:
    reason: str  # machine-readable: unmapped_account | tenant_inactive | channel_disabled
    detail: str


def decide(route: AccountRoute | None, *, channel: str, account_id: str) -> Routed | Refused:
    """Route only to an active tenant whose channel account is enabled; never guess."""
    if route is None:
        return Refused(reasons.UNMAPPED_ACCOUNT, f"{channel} account {account_id} is connected to no tenant")
    if route.tenant_status != "active":
        return Refused(reasons.TENANT_INACTIVE, f"tenant {route.tenant_id} is {route.tenant_status}")
    if not route.is_enabled:
        return Refused(reasons.CHANNEL_DISABLED, f"{channel} account {account_id} is disabled")
    return Routed(route.tenant_id)
