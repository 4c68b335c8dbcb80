"""Tenant database schema: everything of one restaurant (users, accounts, conversations, messages)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from omni_common.contracts.assistant import ACTIONS
from omni_common.db.catalog_models import NAMING, in_list
from omni_common.domain.accounts import ACCOUNT_STATUSES
from omni_common.domain.channels import CHANNELS

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


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


def _updated() -> Mapped[datetime]:
    return mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )


def _ts() -> Mapped[datetime | None]:
    return mapped_column(DateTime(timezone=True))


class User(TenantBase):
    """A person who signs in to this tenant's inbox (or is refused by role)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(in_list("role", ROLES), name="role"),
        # Emails are stored lowercased, so the plain UNIQUE is case-insensitive.
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    email: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    display_name: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    last_login_at: Mapped[datetime | None] = _ts()
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class SocialAccount(TenantBase):
    """A connected WhatsApp number, Facebook page or Instagram account, with encrypted credentials."""

    __tablename__ = "social_accounts"
    __table_args__ = (
        UniqueConstraint("platform", "external_account_id"),
        CheckConstraint(in_list("platform", CHANNELS), name="platform"),
        CheckConstraint(in_list("status", ACCOUNT_STATUSES), name="status"),
        CheckConstraint("char_length(credentials_hint) <= 4", name="hint_len"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    platform: Mapped[str] = mapped_column(Text, nullable=False)
    external_account_id: Mapped[str] = mapped_column(Text, nullable=False)
    waba_id: Mapped[str | None] = mapped_column(Text)
    display_name: Mapped[str | None] = mapped_column(Text)
    # Ciphertext of omni_common.crypto, bound to (tenant_id, id, "credentials").
    credentials_encrypted: Mapped[str | None] = mapped_column(Text)
    credentials_hint: Mapped[str | None] = mapped_column(String(4))
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'active'"))
    last_error_code: Mapped[str | None] = mapped_column(Text)
    last_error_message: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = _ts()
    token_expires_at: Mapped[datetime | None] = _ts()
    last_webhook_at: Mapped[datetime | None] = _ts()
    last_send_at: Mapped[datetime | None] = _ts()
    # Messenger/Instagram: the owner says Meta granted the Human Agent permission (App Review), so
    # replies may go as MESSAGE_TAG HUMAN_AGENT up to 7 days after the customer's last message (t0007).
    human_agent_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class Contact(TenantBase):
    """A customer as seen through one connected account (wa_id, PSID or IGSID)."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("social_account_id", "external_id"),
        CheckConstraint(in_list("channel", CHANNELS), name="channel"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    social_account_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("social_accounts.id", ondelete="CASCADE"), nullable=False
    )
    channel: Mapped[str] = mapped_column(Text, nullable=False)
    external_id: Mapped[str] = mapped_column(Text, nullable=False)
    display_name: Mapped[str | None] = mapped_column(Text)
    handle: Mapped[str | None] = mapped_column(Text)
    profile_fetched_at: Mapped[datetime | None] = _ts()
    # Contacts with the same person_id are one person, linked by the owner (t0008); NULL: on its own.
    person_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


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

    id: Mapped[uuid.UUID] = _uuid_pk()
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
    snoozed_until: Mapped[datetime | None] = _ts()
    assignee_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    last_message_at: Mapped[datetime | None] = _ts()
    last_inbound_at: Mapped[datetime | None] = _ts()
    last_message_preview: Mapped[str | None] = mapped_column(Text)
    unread_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


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

    id: Mapped[uuid.UUID] = _uuid_pk()
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
    status_at: Mapped[datetime | None] = _ts()
    error_code: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    platform_timestamp: Mapped[datetime | None] = _ts()
    reply_to_message_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("chat_messages.id", ondelete="SET NULL")
    )
    reply_to_external_id: Mapped[str | None] = mapped_column(Text)
    reaction_emoji: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[datetime | None] = _ts()
    edited_at: Mapped[datetime | None] = _ts()
    sent_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    send_attempted_at: Mapped[datetime | None] = _ts()
    # A failed reply the owner sent again ("Retry"): the new message (t0008); set once.
    resent_as: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class Notification(TenantBase):
    """Something owners must see (e.g. an expired token), with how to fix it in ``data``."""

    __tablename__ = "notifications"

    id: Mapped[uuid.UUID] = _uuid_pk()
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    severity: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'info'"))
    title: Mapped[str] = mapped_column(Text, nullable=False)
    body: Mapped[str | None] = mapped_column(Text)
    social_account_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("social_accounts.id", ondelete="CASCADE")
    )
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _created()
    read_at: Mapped[datetime | None] = _ts()
    resolved_at: Mapped[datetime | None] = _ts()


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
    created_at: Mapped[datetime] = _created()
    published_at: Mapped[datetime | None] = _ts()


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

    id: Mapped[uuid.UUID] = _uuid_pk()
    waba_id: Mapped[str] = mapped_column(Text, nullable=False)
    external_id: Mapped[str | None] = mapped_column(Text)  # Meta's template id (webhooks name it)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    language: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    parameter_format: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'POSITIONAL'"))
    components: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)  # why it was rejected, paused or disabled
    synced_at: Mapped[datetime | None] = _ts()
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class WaTemplateSync(TenantBase):
    """When a WABA's templates were last fetched from Meta (one row per WABA, t0007)."""

    __tablename__ = "wa_template_syncs"

    waba_id: Mapped[str] = mapped_column(Text, primary_key=True)
    started_at: Mapped[datetime | None] = _ts()
    finished_at: Mapped[datetime | None] = _ts()
    template_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(Text)


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
    updated_at: Mapped[datetime] = _updated()
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

    id: Mapped[uuid.UUID] = _uuid_pk()
    chat_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("chats.id", ondelete="CASCADE"), nullable=False, index=True
    )
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    requested_at: Mapped[datetime] = _created()
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
    used_at: Mapped[datetime | None] = _ts()


class Label(TenantBase):
    """A tenant's label for conversations (reservation, complaint, catering, allergy...)."""

    __tablename__ = "labels"
    __table_args__ = (
        CheckConstraint("color ~ '^#[0-9a-f]{6}$'", name="color_hex"),
        CheckConstraint("char_length(name) BETWEEN 1 AND 40", name="name_len"),
        Index("uq_labels_lower_name", text("lower(name)"), unique=True),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    color: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'#6b7280'"))
    created_at: Mapped[datetime] = _created()


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
    created_at: Mapped[datetime] = _created()


class QuickReply(TenantBase):
    """A saved answer, inserted in the reply box by typing ``/`` and its shortcut."""

    __tablename__ = "quick_replies"
    __table_args__ = (
        CheckConstraint("shortcut ~ '^[a-z0-9][a-z0-9_-]{0,31}$'", name="shortcut_format"),
        CheckConstraint("char_length(body) BETWEEN 1 AND 4096", name="body_len"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    shortcut: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


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

    id: Mapped[uuid.UUID] = _uuid_pk()
    chat_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("chats.id", ondelete="CASCADE"), nullable=False
    )
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = _created()


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
    updated_at: Mapped[datetime] = _updated()


class PushKey(TenantBase):
    """The tenant's VAPID key pair for Web Push (one row); the private key encrypted (``crypto``)."""

    __tablename__ = "push_keys"
    __table_args__ = (CheckConstraint("id = 1", name="single"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default=text("1"))
    public_key: Mapped[str] = mapped_column(Text, nullable=False)  # base64url, uncompressed P-256 point
    private_key_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = _created()


class PushSubscription(TenantBase):
    """One browser or phone of a user that allowed alerts (the push service's endpoint and keys)."""

    __tablename__ = "push_subscriptions"

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    endpoint: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    p256dh: Mapped[str] = mapped_column(Text, nullable=False)
    auth: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = _created()


class PushClaim(TenantBase):
    """A message some inbox replica pushed (every replica hears every event; one pushes it)."""

    __tablename__ = "push_claims"

    message_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    claimed_at: Mapped[datetime] = _created()


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
    read_at: Mapped[datetime] = _created()
    typing_at: Mapped[datetime | None] = _ts()
