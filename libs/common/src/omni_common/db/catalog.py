"""Catalog access: tenants, their database servers and the platform-account -> tenant mapping."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Select, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from omni_common.db.catalog_models import (
    MAIN_SERVER,
    SERVER_STATES,
    TENANT_STATUSES,
    ChannelAccount,
    DbServer,
    Tenant,
    TenantMove,
)
from omni_common.db.servers import ServerRecord
from omni_common.dburl import async_url
from omni_common.domain.channels import CHANNELS
from omni_common.errors import AccountConflict

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class TenantRecord:
    """A catalog row of ``tenants``, detached from any session."""

    id: uuid.UUID
    slug: str
    display_name: str
    db_name: str
    db_url: str | None
    status: str
    schema_revision: str | None
    last_migration_error: str | None
    created_at: datetime
    updated_at: datetime
    server: str = MAIN_SERVER
    # Its server's URL (no password) and the variable holding the password; None: the catalog's.
    server_url: str | None = None
    server_password_env: str | None = None
    # A move is under way (``tenant_moves``): writers hold this tenant's events until it ends.
    moving: bool = False


@dataclass(frozen=True)
class AccountRoute:
    """Where a platform account's events go."""

    tenant_id: uuid.UUID
    tenant_status: str
    is_enabled: bool


def catalog_engine(url: str | URL, *, pool_size: int = 1, max_overflow: int = 2) -> AsyncEngine:
    """An async engine on the catalog database (small pool: lookups are short and cached)."""
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"application_name": "omni:catalog"},
    )


def _tenant_query() -> Select[Any]:
    """Tenants with their server's URL and whether a move holds them (one round trip)."""
    # A move holds its tenant until its last step; a finished one ('done') is kept only to
    # remember where the source database is, for a later ``--drop-source``.
    moving = exists().where(TenantMove.tenant_id == Tenant.id, TenantMove.step != "done").label("moving")
    return select(
        *Tenant.__table__.columns,
        DbServer.url.label("server_url"),
        DbServer.password_env.label("server_password_env"),
        moving,
    ).join(DbServer, DbServer.name == Tenant.server)


def _record(row: Any) -> TenantRecord:
    return TenantRecord(
        id=row.id,
        slug=row.slug,
        display_name=row.display_name,
        db_name=row.db_name,
        db_url=row.db_url,
        status=row.status,
        schema_revision=row.schema_revision,
        last_migration_error=row.last_migration_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        server=row.server,
        server_url=row.server_url,
        server_password_env=row.server_password_env,
        moving=bool(row.moving),
    )


def _server(row: Any, tenants: int = 0) -> ServerRecord:
    return ServerRecord(
        name=row.name,
        url=row.url,
        password_env=row.password_env,
        max_tenants=row.max_tenants,
        max_connections=row.max_connections,
        state=row.state,
        tenants=tenants,
    )


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}")


class Catalog:
    """Queries and commands on the catalog database; the engine is owned by the caller."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get_tenant(self, tenant_id: uuid.UUID) -> TenantRecord | None:
        """The tenant with this id, or None."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(_tenant_query().where(Tenant.id == tenant_id))).first()
        return _record(row) if row else None

    async def get_tenant_by_slug(self, slug: str) -> TenantRecord | None:
        """The tenant with this slug, or None."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(_tenant_query().where(Tenant.slug == slug))).first()
        return _record(row) if row else None

    async def list_tenants(self, statuses: Sequence[str] | None = None) -> list[TenantRecord]:
        """All tenants (optionally only those in ``statuses``), ordered by slug."""
        query = _tenant_query().order_by(Tenant.slug)
        if statuses is not None:
            query = query.where(Tenant.status.in_(list(statuses)))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_record(r) for r in rows]

    async def insert_tenant(
        self,
        *,
        tenant_id: uuid.UUID,
        slug: str,
        display_name: str,
        db_name: str,
        db_url: str | None = None,
        server: str = MAIN_SERVER,
    ) -> TenantRecord:
        """Insert a ``provisioning`` tenant; if the slug exists already, return the existing row."""
        stmt = (
            insert(Tenant)
            .values(
                id=tenant_id,
                slug=slug,
                display_name=display_name,
                db_name=db_name,
                db_url=db_url,
                server=server,
            )
            .on_conflict_do_nothing(index_elements=["slug"])
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt)
        record = await self.get_tenant_by_slug(slug)
        assert record is not None
        return record

    async def set_tenant_status(self, tenant_id: uuid.UUID, status: str) -> None:
        """Move a tenant to ``status``."""
        if status not in TENANT_STATUSES:
            raise ValueError(f"unknown tenant status {status!r}")
        async with self.engine.begin() as conn:
            await conn.execute(
                update(Tenant).where(Tenant.id == tenant_id).values(status=status, updated_at=func.now())
            )

    async def set_tenant_revision(
        self, tenant_id: uuid.UUID, revision: str | None, *, error: str | None = None
    ) -> None:
        """Record a migration outcome: the revision reached (if known) and the error (None: success)."""
        values: dict[str, object] = {"last_migration_error": error, "updated_at": func.now()}
        if revision is not None:
            values["schema_revision"] = revision
        async with self.engine.begin() as conn:
            await conn.execute(update(Tenant).where(Tenant.id == tenant_id).values(**values))

    async def resolve_account(self, channel: str, external_account_id: str) -> AccountRoute | None:
        """The tenant owning a platform account, or None when unmapped."""
        query = (
            select(ChannelAccount.tenant_id, Tenant.status, ChannelAccount.is_enabled)
            .join(Tenant, Tenant.id == ChannelAccount.tenant_id)
            .where(
                ChannelAccount.channel == channel,
                ChannelAccount.external_account_id == external_account_id,
            )
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return AccountRoute(row[0], row[1], row[2]) if row else None

    async def map_account(self, channel: str, external_account_id: str, tenant_id: uuid.UUID) -> None:
        """Map an account to ``tenant_id``; idempotent for that tenant, AccountConflict for another."""
        _check_channel(channel)
        # ON CONFLICT DO NOTHING + re-read: the UNIQUE constraint arbitrates concurrent claims.
        stmt = (
            insert(ChannelAccount)
            .values(channel=channel, external_account_id=external_account_id, tenant_id=tenant_id)
            .on_conflict_do_nothing(index_elements=["channel", "external_account_id"])
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt)
            owner = await conn.scalar(
                select(ChannelAccount.tenant_id).where(
                    ChannelAccount.channel == channel,
                    ChannelAccount.external_account_id == external_account_id,
                )
            )
        if owner != tenant_id:
            log.warning("account_conflict", channel=channel, tenant_id=str(tenant_id))
            raise AccountConflict(
                f"{channel} account {external_account_id} is already connected to another tenant"
            )

    async def set_account_enabled(
        self, channel: str, external_account_id: str, tenant_id: uuid.UUID, enabled: bool
    ) -> bool:
        """Enable/disable a mapping owned by ``tenant_id``; False when it has no such mapping."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(ChannelAccount)
                .where(
                    ChannelAccount.channel == channel,
                    ChannelAccount.external_account_id == external_account_id,
                    ChannelAccount.tenant_id == tenant_id,
                )
                .values(is_enabled=enabled, updated_at=func.now())
            )
        return result.rowcount > 0

    async def unmap_account(self, channel: str, external_account_id: str, tenant_id: uuid.UUID) -> bool:
        """Remove a mapping owned by ``tenant_id``; False when it has no such mapping."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(ChannelAccount).where(
                    ChannelAccount.channel == channel,
                    ChannelAccount.external_account_id == external_account_id,
                    ChannelAccount.tenant_id == tenant_id,
                )
            )
        return result.rowcount > 0

    async def tenant_accounts(self, tenant_id: uuid.UUID) -> list[tuple[str, str, bool]]:
        """(channel, external_account_id, is_enabled) of every account mapped to ``tenant_id``."""
        query = (
            select(ChannelAccount.channel, ChannelAccount.external_account_id, ChannelAccount.is_enabled)
            .where(ChannelAccount.tenant_id == tenant_id)
            .order_by(ChannelAccount.channel, ChannelAccount.external_account_id)
        )
        async with self.engine.connect() as conn:
            return [(r[0], r[1], r[2]) for r in (await conn.execute(query)).all()]

    # -- database servers ----------------------------------------------------------------------

    async def list_servers(self) -> list[ServerRecord]:
        """Every database server with its number of tenants, ``main`` first, then by name."""
        counts = select(Tenant.server, func.count().label("n")).group_by(Tenant.server).subquery("counts")
        query = (
            select(*DbServer.__table__.columns, func.coalesce(counts.c.n, 0).label("n"))
            .outerjoin(counts, counts.c.server == DbServer.name)
            .order_by(DbServer.name != MAIN_SERVER, DbServer.name)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_server(r, r.n) for r in rows]

    async def get_server(self, name: str) -> ServerRecord | None:
        """The server ``name`` with its tenant count, or None."""
        return next((s for s in await self.list_servers() if s.name == name), None)

    async def add_server(
        self,
        name: str,
        url: str,
        *,
        password_env: str | None,
        max_tenants: int | None = None,
        max_connections: int | None = None,
    ) -> bool:
        """Register a server (``url`` without a password); False when the name exists already."""
        stmt = (
            insert(DbServer)
            .values(
                name=name,
                url=url,
                password_env=password_env,
                max_tenants=max_tenants,
                max_connections=max_connections,
            )
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(DbServer.name)
        )
        async with self.engine.begin() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def set_server_state(self, name: str, state: str) -> bool:
        """Set a server's state (active | draining | full); False when there is no such server."""
        if state not in SERVER_STATES:
            raise ValueError(f"unknown server state {state!r}")
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(DbServer).where(DbServer.name == name).values(state=state, updated_at=func.now())
            )
        return result.rowcount > 0

    async def set_tenant_server(self, tenant_id: uuid.UUID, server: str) -> None:
        """Point the tenant at its database on ``server`` (the move's cut-over)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(Tenant)
                .where(Tenant.id == tenant_id)
                .values(server=server, db_url=None, updated_at=func.now())
            )
