"""The AI assistant: its settings, the knowledge it answers from, the suggestions it made."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from omni_common.contracts.assistant import ACTIONS
from omni_common.db.catalog_models import in_list
from omni_common.db.tenant_models.base import (
    TenantBase,
    created,
    ts,
    updated,
    uuid_pk,
)

SUGGESTION_OUTCOMES = ("sent_as_is", "edited")
SUGGESTION_ACTIONS: tuple[str, ...] = ACTIONS


class AssistantSettings(TenantBase):
    """The tenant's AI settings: one row (id 1); the knowledge is one validated JSON document."""

    __tablename__ = "assistant_settings"
    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, server_default=text("1"))
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    document: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'"))
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = updated()
    # Which document the rows of ``assistant_knowledge`` were built from (None: never built).
    knowledge_hash: Mapped[str | None] = mapped_column(Text)
    # The operator's limits for this tenant (``omni ai limits``); None: the service's default.
    # Not part of the owner's document: the inbox never writes them.
    suggestions_per_minute: Mapped[int | None] = mapped_column(Integer)
    tokens_per_day: Mapped[int | None] = mapped_column(BigInteger)


KNOWLEDGE_KINDS = ("faq", "menu", "hours", "policy", "address", "phone")


class AssistantKnowledge(TenantBase):
    """One searchable piece of the assistant document (a FAQ entry, a dish, the hours, a policy).

    Derived from the document on every save (``omni_common.tenancy.assistant_knowledge``): the
    document stays the truth, these rows are its full-text index."""

    __tablename__ = "assistant_knowledge"
    __table_args__ = (
        CheckConstraint(in_list("kind", KNOWLEDGE_KINDS), name="kind"),
        Index("ix_assistant_knowledge_tsv", "tsv", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)  # index in its list of the document
    language: Mapped[str] = mapped_column(Text, nullable=False)  # ISO 639-1 code
    config: Mapped[str] = mapped_column(Text, nullable=False)  # text search configuration, e.g. german
    title: Mapped[str] = mapped_column(Text, nullable=False)  # question, dish name, "Opening hours"
    body: Mapped[str] = mapped_column(Text, nullable=False)  # answer, description + tags + allergens
    plain: Mapped[str] = mapped_column(Text, nullable=False)  # unaccented lower-case text, for typos
    tsv: Mapped[Any] = mapped_column(TSVECTOR, nullable=False)  # title weighted A, body B


class Suggestion(TenantBase):
    """One suggestion asked for: who, when, from what (``local`` or a model), and whether it was used."""

    __tablename__ = "suggestions"
    __table_args__ = (
        CheckConstraint(f"outcome IS NULL OR {in_list('outcome', SUGGESTION_OUTCOMES)}", name="outcome"),
        CheckConstraint(in_list("action", SUGGESTION_ACTIONS), name="action"),
        Index("ix_suggestions_requested_at", "requested_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    chat_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("chats.id", ondelete="CASCADE"), nullable=False, index=True
    )
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    requested_at: Mapped[datetime] = created()
    source: Mapped[str] = mapped_column(Text, nullable=False)  # "local" or the model's name
    tokens: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    reason: Mapped[str | None] = mapped_column(Text)  # why there is no text
    # suggest (a new draft) or what was done to the owner's draft: rewrite, shorten, translate.
    action: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'suggest'"))
    language: Mapped[str | None] = mapped_column(Text)  # the customer's language the draft is for
    note: Mapped[str | None] = mapped_column(Text)  # what the owner was told (e.g. model fell back)
    prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    completion_tokens: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    # Declared last: the attribute shadows sqlalchemy's ``text()`` inside this class body.
    text: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    used_message_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("chat_messages.id", ondelete="SET NULL")
    )
    used_at: Mapped[datetime | None] = ts()
