"""Alerts and signals: Web Push keys and subscriptions, read receipts and "typing…" to customers."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    SmallInteger,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from omni_common.db.tenant_models.base import (
    TenantBase,
    created,
    ts,
    uuid_pk,
)


class PushKey(TenantBase):
    """The tenant's VAPID key pair for Web Push (one row); the private key encrypted (``crypto``)."""

    __tablename__ = "push_keys"
    __table_args__ = (CheckConstraint("id = 1", name="single"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default=text("1"))
    public_key: Mapped[str] = mapped_column(Text, nullable=False)  # base64url, uncompressed P-256 point
    private_key_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = created()


class PushSubscription(TenantBase):
    """One browser or phone of a user that allowed alerts (the push service's endpoint and keys)."""

    __tablename__ = "push_subscriptions"

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    endpoint: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    p256dh: Mapped[str] = mapped_column(Text, nullable=False)
    auth: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = created()


class PushClaim(TenantBase):
    """A message some inbox replica pushed (every replica hears every event; one pushes it)."""

    __tablename__ = "push_claims"

    message_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    claimed_at: Mapped[datetime] = created()


class InboxSignals(TenantBase):
    """Whether WhatsApp customers see read receipts and "typing…" (one row; none: both on)."""

    __tablename__ = "inbox_signals"
    __table_args__ = (CheckConstraint("id = 1", name="single"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default=text("1"))
    read_receipts: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    typing_indicator: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))


class CustomerSignal(TenantBase):
    """Per conversation: the customer's message last marked read on WhatsApp (no second receipt), and
    when "typing…" last went (one per 20 s)."""

    __tablename__ = "customer_signals"

    chat_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
    )
    message_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    read_at: Mapped[datetime] = created()
    typing_at: Mapped[datetime | None] = ts()
