"""WhatsApp message templates, as synced from Meta, and when each account was last synced."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from omni_common.db.tenant_models.base import (
    TenantBase,
    created,
    ts,
    updated,
    uuid_pk,
)


class WaTemplate(TenantBase):
    """A WhatsApp message template of one WABA in one language, as Meta last listed it (t0007).

    Kept in step by ``omni_common.wa_templates.sync`` (on connect, on demand, every few hours) and
    by the ``message_template_status_update`` webhooks (the normalizer).
    """

    __tablename__ = "wa_templates"
    __table_args__ = (
        UniqueConstraint("waba_id", "name", "language"),
        Index("ix_wa_templates_waba_id_status", "waba_id", "status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    waba_id: Mapped[str] = mapped_column(Text, nullable=False)
    external_id: Mapped[str | None] = mapped_column(Text)  # Meta's template id (webhooks name it)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    language: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    parameter_format: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'POSITIONAL'"))
    components: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)  # why it was rejected, paused or disabled
    synced_at: Mapped[datetime | None] = ts()
    created_at: Mapped[datetime] = created()
    updated_at: Mapped[datetime] = updated()


class WaTemplateSync(TenantBase):
    """When a WABA's templates were last fetched from Meta (one row per WABA, t0007)."""

    __tablename__ = "wa_template_syncs"

    waba_id: Mapped[str] = mapped_column(Text, primary_key=True)
    started_at: Mapped[datetime | None] = ts()
    finished_at: Mapped[datetime | None] = ts()
    template_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(Text)
