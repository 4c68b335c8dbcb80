"""The declarative base of a tenant database, the value lists its checks use, and column helpers."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    DateTime,
    MetaData,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from omni_common.db.catalog_models import NAMING

ROLES = ("business_owner", "manager", "staff", "investor", "customer", "super_admin")
INBOX_ROLES = ("business_owner", "manager")
DIRECTIONS = ("inbound", "outbound")
# "unknown" is no longer written (an unconfirmed send ends "failed" with error code "outcome_unknown");
# it stays allowed for rows written before, which the inbox shows as "may have been delivered".
MESSAGE_STATUSES = ("queued", "sending", "sent", "delivered", "read", "failed", "unknown", "received")
CHAT_STATES = ("open", "pending", "resolved", "snoozed")
MESSAGE_KINDS = (
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "reaction",
    "interactive",
    "button",
    "template",
    "quick_reply",
    "postback",
    "story_mention",
    "story_reply",
    "deleted",
    "unsupported",
)


class TenantBase(DeclarativeBase):
    """Declarative base of every tenant database."""

    metadata = MetaData(naming_convention=NAMING)


def uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )


def created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


def updated() -> Mapped[datetime]:
    return mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )


def ts() -> Mapped[datetime | None]:
    return mapped_column(DateTime(timezone=True))
