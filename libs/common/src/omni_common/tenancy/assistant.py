"""The tenant's AI assistant settings and knowledge: one document row in the tenant database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from omni_common.contracts.assistant import AssistantDocument
from omni_common.db.tenant_models import AssistantSettings


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
    """Replace the tenant's assistant document (one row, upserted)."""
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
