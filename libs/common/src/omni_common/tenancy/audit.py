"""The tenant's append-only audit trail: who did what, written in the same transaction as the act.

Writing the entry inside the caller's transaction means an action and its audit entry commit or
roll back together; the table refuses UPDATE, DELETE and TRUNCATE (migration t0003).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from omni_common.db.tenant_models import AuditEntry

# Keys never written to an entry, whatever a caller passes in details.
_SECRET_KEYS = frozenset({"token", "access_token", "password", "credentials", "secret"})


@dataclass(frozen=True)
class Actor:
    """Who acted: a user of the tenant, or a named system component (``user_id`` None)."""

    user_id: uuid.UUID | None
    email: str | None

    @classmethod
    def system(cls, component: str) -> Actor:
        return cls(None, f"system:{component}")


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    target_type: str | None = None,
    target_id: object | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one entry (e.g. ``record(s, actor, "account.disabled", target_type="social_account", ...)``)."""
    clean = {k: v for k, v in (details or {}).items() if k.lower() not in _SECRET_KEYS}
    await session.execute(
        insert(AuditEntry).values(
            actor_user_id=actor.user_id,
            actor_email=actor.email,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            details=clean,
        )
    )
