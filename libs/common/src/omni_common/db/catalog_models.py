"""Catalog (control-plane) schema: which tenants exist and which platform accounts belong to them.

Nothing else ever goes here: no users, contacts, messages or credentials (those live in tenant DBs).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from omni_common.domain.channels import CHANNELS

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TENANT_STATUSES = ("provisioning", "active", "suspended", "failed")
SERVER_STATES = ("active", "draining", "full")
MAIN_SERVER = "main"  # the catalog's own server: the first entry of db_servers, with no URL


def in_list(column: str, values: tuple[str, ...]) -> str:
    """SQL text of a CHECK that ``column`` takes one of ``values`` (constants of this module only)."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CatalogBase(DeclarativeBase):
    """Declarative base of the catalog database."""

    metadata = MetaData(naming_convention=NAMING)


def _now_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class DbServer(CatalogBase):
    """A PostgreSQL server tenant databases live on (``main``: the catalog's own)."""

    __tablename__ = "db_servers"
    __table_args__ = (
        CheckConstraint(in_list("state", SERVER_STATES), name="state"),
        CheckConstraint("max_tenants IS NULL OR max_tenants >= 0", name="max_tenants"),
    )

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Without a password, ever (the secret is in the environment variable ``password_env`` names);
    # NULL for ``main``: each process reaches the catalog's server through its OMNI_DATABASE_URL.
    url: Mapped[str | None] = mapped_column(Text)
    password_env: Mapped[str | None] = mapped_column(Text)
    max_tenants: Mapped[int | None] = mapped_column(Integer)
    max_connections: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'active'"))
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()


class Tenant(CatalogBase):
    """One restaurant business; its data lives in the database ``db_name``."""

    __tablename__ = "tenants"
    __table_args__ = (CheckConstraint(in_list("status", TENANT_STATUSES), name="status"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    slug: Mapped[str] = mapped_column(String(50), nullable=False, unique=True)
    display_name: Mapped[str] = mapped_column(Text, nullable=False)
    db_name: Mapped[str] = mapped_column(String(63), nullable=False, unique=True)
    # Legacy (nothing writes it): a URL of another server, read before ``server`` for compatibility.
    db_url: Mapped[str | None] = mapped_column(Text)
    server: Mapped[str] = mapped_column(
        String(40),
        ForeignKey("db_servers.name", ondelete="RESTRICT"),
        nullable=False,
        index=True,
        server_default=text("'main'"),
    )
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'provisioning'"))
    schema_revision: Mapped[str | None] = mapped_column(Text)
    last_migration_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )


class ChannelAccount(CatalogBase):
    """A platform account (phone number id, page id, Instagram id) owned by exactly one tenant."""

    __tablename__ = "channel_accounts"
    __table_args__ = (
        # This constraint is what makes "one platform account, one tenant" true under concurrency.
        UniqueConstraint("channel", "external_account_id"),
        CheckConstraint(in_list("channel", CHANNELS), name="channel"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    channel: Mapped[str] = mapped_column(Text, nullable=False)
    external_account_id: Mapped[str] = mapped_column(Text, nullable=False)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    is_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )


class TenantMove(CatalogBase):
    """A tenant move in progress (``omni tenant move``): while it exists, writers hold its events."""

    __tablename__ = "tenant_moves"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(40), ForeignKey("db_servers.name"), nullable=False)
    target: Mapped[str] = mapped_column(String(40), ForeignKey("db_servers.name"), nullable=False)
    step: Mapped[str] = mapped_column(Text, nullable=False)
    started_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()
