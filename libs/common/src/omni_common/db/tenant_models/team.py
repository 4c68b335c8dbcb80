"""The team inbox: labels, quick replies, notes, read marks, the audit trail, display settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from omni_common.db.tenant_models.base import (
    TenantBase,
    created,
    updated,
    uuid_pk,
)


class Label(TenantBase):
    """A tenant's label for conversations (reservation, complaint, catering, allergy...)."""

    __tablename__ = "labels"
    __table_args__ = (
        CheckConstraint("color ~ '^#[0-9a-f]{6}$'", name="color_hex"),
        CheckConstraint("char_length(name) BETWEEN 1 AND 40", name="name_len"),
        Index("uq_labels_lower_name", text("lower(name)"), unique=True),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    color: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'#6b7280'"))
    created_at: Mapped[datetime] = created()


class ChatLabel(TenantBase):
    """A label put on a conversation."""

    __tablename__ = "chat_labels"

    chat_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
    )
    label_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created()


class QuickReply(TenantBase):
    """A saved answer, inserted in the reply box by typing ``/`` and its shortcut."""

    __tablename__ = "quick_replies"
    __table_args__ = (
        CheckConstraint("shortcut ~ '^[a-z0-9][a-z0-9_-]{0,31}$'", name="shortcut_format"),
        CheckConstraint("char_length(body) BETWEEN 1 AND 4096", name="body_len"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    shortcut: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created()
    updated_at: Mapped[datetime] = updated()


class ChatNote(TenantBase):
    """A private note inside a conversation, for staff only.

    Notes live in their own table, never in ``chat_messages``: the outbound-sender only reads
    ``chat_messages``, so there is no code path by which a note could reach a customer.
    """

    __tablename__ = "chat_notes"
    __table_args__ = (
        CheckConstraint("char_length(body) BETWEEN 1 AND 4096", name="body_len"),
        Index("ix_chat_notes_chat_id_created_at", "chat_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    chat_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("chats.id", ondelete="CASCADE"), nullable=False
    )
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = created()


class ChatRead(TenantBase):
    """How far one user has read one conversation (unread is per user)."""

    __tablename__ = "chat_reads"

    chat_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    last_read_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class AuditEntry(TenantBase):
    """Append-only record of who did what (UPDATE, DELETE and TRUNCATE are refused by triggers).

    The actor's email is copied in so the entry stays readable after the user is removed; there
    is deliberately no foreign key on the actor (an ON DELETE SET NULL would be an UPDATE).
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_email: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text, nullable=False)  # e.g. "reply.sent", "account.connected"
    target_type: Mapped[str | None] = mapped_column(Text)
    target_id: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'"))


class InboxDisplay(TenantBase):
    """How the inbox shows times: one row (id 1); ``time_zone`` None means each browser's own zone."""

    __tablename__ = "inbox_display"
    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, server_default=text("1"))
    time_zone: Mapped[str | None] = mapped_column(Text)  # an IANA name, e.g. "Europe/Berlin"
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = updated()
