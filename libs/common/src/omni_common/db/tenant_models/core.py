"""Users, channel accounts, contacts, conversations, messages, notices and the outbox."""

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
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from omni_common.db.catalog_models import in_list
from omni_common.db.tenant_models.base import (
    CHAT_STATES,
    DIRECTIONS,
    MESSAGE_STATUSES,
    ROLES,
    TenantBase,
    created,
    ts,
    updated,
    uuid_pk,
)
from omni_common.domain.accounts import ACCOUNT_STATUSES
from omni_common.domain.channels import CHANNELS


class User(TenantBase):
    """A person who signs in to this tenant's inbox (or is refused by role)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(in_list("role", ROLES), name="role"),
        # Emails are stored lowercased, so the plain UNIQUE is case-insensitive.
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    display_name: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    last_login_at: Mapped[datetime | None] = ts()
    created_at: Mapped[datetime] = created()
    updated_at: Mapped[datetime] = updated()


class SocialAccount(TenantBase):
    """A connected WhatsApp number, Facebook page or Instagram account, with encrypted credentials."""

    __tablename__ = "social_accounts"
    __table_args__ = (
        UniqueConstraint("platform", "external_account_id"),
        CheckConstraint(in_list("platform", CHANNELS), name="platform"),
        CheckConstraint(in_list("status", ACCOUNT_STATUSES), name="status"),
        CheckConstraint("char_length(credentials_hint) <= 4", name="hint_len"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    platform: Mapped[str] = mapped_column(Text, nullable=False)
    external_account_id: Mapped[str] = mapped_column(Text, nullable=False)
    waba_id: Mapped[str | None] = mapped_column(Text)
    display_name: Mapped[str | None] = mapped_column(Text)
    # Ciphertext of omni_common.crypto, bound to (tenant_id, id, "credentials").
    credentials: Mapped[str | None] = mapped_column(Text)
    credentials_hint: Mapped[str | None] = mapped_column(String(4))
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'active'"))
    last_error_code: Mapped[str | None] = mapped_column(Text)
    last_error_message: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = ts()
    token_expires_at: Mapped[datetime | None] = ts()
    # Token lifecycle (t0012): debug_token's type (USER, PAGE, SYSTEM_USER), the last renewal tried
    # and the last that worked (fb_exchange_token), the last subscribed_apps check.
    token_kind: Mapped[str | None] = mapped_column(Text)
    token_refresh_tried_at: Mapped[datetime | None] = ts()
    token_refreshed_at: Mapped[datetime | None] = ts()
    subscription_checked_at: Mapped[datetime | None] = ts()
    last_webhook_at: Mapped[datetime | None] = ts()
    last_send_at: Mapped[datetime | None] = ts()
    # Messenger/Instagram: the owner says Meta granted the Human Agent permission (App Review), so
    # replies may go as MESSAGE_TAG HUMAN_AGENT up to 7 days after the customer's last message (t0007).
    human_agent_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    created_at: Mapped[datetime] = created()
    updated_at: Mapped[datetime] = updated()


class Contact(TenantBase):
    """A customer as seen through one connected account (wa_id, PSID or IGSID)."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("social_account_id", "external_id"),
        CheckConstraint(in_list("channel", CHANNELS), name="channel"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    social_account_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("social_accounts.id", ondelete="CASCADE"), nullable=False
    )
    channel: Mapped[str] = mapped_column(Text, nullable=False)
    external_id: Mapped[str] = mapped_column(Text, nullable=False)
    display_name: Mapped[str | None] = mapped_column(Text)
    handle: Mapped[str | None] = mapped_column(Text)
    profile_fetched_at: Mapped[datetime | None] = ts()
    # Contacts with the same person_id are one person, linked by the owner (t0008); NULL: on its own.
    person_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    created_at: Mapped[datetime] = created()
    updated_at: Mapped[datetime] = updated()


class Chat(TenantBase):
    """One conversation: one contact through one connected account."""

    __tablename__ = "chats"
    __table_args__ = (
        UniqueConstraint("social_account_id", "contact_id"),
        CheckConstraint(in_list("channel", CHANNELS), name="channel"),
        Index("ix_chats_last_message_at", text("last_message_at DESC NULLS LAST")),
        CheckConstraint(in_list("state", CHAT_STATES), name="state"),
        CheckConstraint("state <> 'snoozed' OR snoozed_until IS NOT NULL", name="snooze_has_time"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    social_account_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("social_accounts.id", ondelete="CASCADE"), nullable=False
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    channel: Mapped[str] = mapped_column(Text, nullable=False)
    # A new inbound message (not a reaction) reopens a resolved or snoozed chat (trigger
    # omni_chat_reopen, t0003/t0004); a snoozed chat whose snoozed_until has passed reads as open.
    state: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'open'"))
    snoozed_until: Mapped[datetime | None] = ts()
    assignee_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    last_message_at: Mapped[datetime | None] = ts()
    last_inbound_at: Mapped[datetime | None] = ts()
    last_message_preview: Mapped[str | None] = mapped_column(Text)
    unread_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    created_at: Mapped[datetime] = created()
    updated_at: Mapped[datetime] = updated()


class ChatMessage(TenantBase):
    """One message of a chat, inbound or outbound, of any kind; raw payload kept verbatim."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        # Meta redelivers webhooks: this makes a duplicate delivery a no-op instead of a second row.
        UniqueConstraint("channel", "external_message_id"),
        CheckConstraint(in_list("channel", CHANNELS), name="channel"),
        CheckConstraint(in_list("direction", DIRECTIONS), name="direction"),
        CheckConstraint(f"status IS NULL OR {in_list('status', MESSAGE_STATUSES)}", name="status"),
        Index("ix_chat_messages_chat_id_platform_timestamp", "chat_id", "platform_timestamp"),
        # Per-user unread counts (inbound messages after a user's read marker), t0003.
        Index(
            "ix_chat_messages_inbound_chat_id_created_at",
            "chat_id",
            "created_at",
            postgresql_where=text("direction = 'inbound'"),
        ),
        # Recent failed sends (channel health), t0005: only failed rows, nothing on the inbound path.
        Index(
            "ix_chat_messages_failed_status_at",
            "status_at",
            postgresql_where=text("direction = 'outbound' AND status = 'failed'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    chat_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("chats.id", ondelete="CASCADE"), nullable=False
    )
    channel: Mapped[str] = mapped_column(Text, nullable=False)
    external_message_id: Mapped[str | None] = mapped_column(Text)
    direction: Mapped[str] = mapped_column(Text, nullable=False)
    sender_name: Mapped[str | None] = mapped_column(Text)
    sender_handle: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text, nullable=False)  # open set (MESSAGE_KINDS + future ones)
    text: Mapped[str | None] = mapped_column(Text)
    media: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # A template send (kind "template"): name, language, parameters, Meta's components and the
    # header/buttons as the customer saw them; ``text`` holds the rendered text (t0007).
    template: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    raw_payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[str | None] = mapped_column(Text)
    status_at: Mapped[datetime | None] = ts()
    error_code: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    platform_timestamp: Mapped[datetime | None] = ts()
    reply_to_message_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("chat_messages.id", ondelete="SET NULL")
    )
    reply_to_external_id: Mapped[str | None] = mapped_column(Text)
    reaction_emoji: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[datetime | None] = ts()
    edited_at: Mapped[datetime | None] = ts()
    sent_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    send_attempted_at: Mapped[datetime | None] = ts()
    # A failed reply the owner sent again ("Retry"): the new message (t0008); set once.
    resent_as: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = created()
    updated_at: Mapped[datetime] = updated()


class Notification(TenantBase):
    """Something owners must see (e.g. an expired token), with how to fix it in ``data``."""

    __tablename__ = "notifications"

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    severity: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'info'"))
    title: Mapped[str] = mapped_column(Text, nullable=False)
    body: Mapped[str | None] = mapped_column(Text)
    social_account_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("social_accounts.id", ondelete="CASCADE")
    )
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = created()
    read_at: Mapped[datetime | None] = ts()
    resolved_at: Mapped[datetime | None] = ts()


class Outbox(TenantBase):
    """Transactional outbox: rows written with the message, published to the broker afterwards."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("chat_messages.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = created()
    published_at: Mapped[datetime | None] = ts()
