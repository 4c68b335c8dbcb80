"""The tenant's AI assistant settings and knowledge: one document row in the tenant database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from omni_common.contracts.assistant import AssistantDocument
from omni_common.db.tenant_models import AssistantSettings
from omni_common.tenancy.assistant_knowledge import rebuild_knowledge


async def read_document(session: AsyncSession) -> AssistantDocument:
    """The tenant's assistant document; defaults (AI off) when never saved or unreadable."""
    row = await session.get(AssistantSettings, 1)
    if row is None:
        return AssistantDocument()
    try:
        return AssistantDocument.model_validate({**(row.document or {}), "enabled": row.enabled})
    except ValidationError:
        return AssistantDocument(enabled=False)


async def write_document(session: AsyncSession, doc: AssistantDocument, user_id: uuid.UUID | None) -> None:
    """Replace the tenant's assistant document (one row, upserted) and re-index its knowledge."""
    body = doc.model_dump(mode="json", exclude={"enabled"})
    stmt = insert(AssistantSettings).values(id=1, enabled=doc.enabled, document=body, updated_by=user_id)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[AssistantSettings.id],
            set_={
                "enabled": doc.enabled,
                "document": body,
                "updated_by": user_id,
                "updated_at": datetime.now(UTC),
            },
        )
    )
    await rebuild_knowledge(session, doc)


@dataclass(frozen=True)
class TenantLimits:
    """The operator's overrides of the AI limits for one tenant (None: the service's default)."""

    suggestions_per_minute: int | None = None
    tokens_per_day: int | None = None


async def read_limits(session: AsyncSession) -> TenantLimits:
    """This tenant's overrides (none when the assistant was never set up)."""
    row = (
        await session.execute(
            select(AssistantSettings.suggestions_per_minute, AssistantSettings.tokens_per_day).where(
                AssistantSettings.id == 1
            )
        )
    ).first()
    return TenantLimits(*row) if row is not None else TenantLimits()


async def write_limits(session: AsyncSession, limits: TenantLimits) -> None:
    """Set this tenant's overrides (operator only: ``omni ai limits``); the owner's document is kept."""
    if limits.suggestions_per_minute is not None and limits.suggestions_per_minute < 1:
        raise ValueError("suggestions per minute must be at least 1")
    if limits.tokens_per_day is not None and limits.tokens_per_day < 0:
        raise ValueError("tokens per day cannot be negative")
    values = {
        "suggestions_per_minute": limits.suggestions_per_minute,
        "tokens_per_day": limits.tokens_per_day,
    }
    await session.execute(insert(AssistantSettings).values(id=1).on_conflict_do_nothing())
    # updated_at tells when the owner last changed the document: an operator's limit is not that.
    await session.execute(
        update(AssistantSettings)
        .where(AssistantSettings.id == 1)
        .values(**values, updated_at=AssistantSettings.updated_at)
    )
