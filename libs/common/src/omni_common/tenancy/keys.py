"""Key rotation: re-encrypt every tenant's stored credentials under the newest key of the ring."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import structlog
from sqlalchemy import select, update
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from omni_common import crypto
from omni_common.db.catalog import Catalog, TenantRecord, catalog_engine
from omni_common.db.servers import tenant_url
from omni_common.db.tenant_models import PushKey, SocialAccount
from omni_common.tenancy import push_keys
from omni_common.tenancy.migrate import describe_error

log = structlog.get_logger(__name__)

ROTATABLE = ("active", "suspended")
FIELD = "credentials"


@dataclass
class RotateReport:
    """Counts of one rotation run (idempotent: a second run rotates nothing)."""

    tenants: int = 0
    rotated: int = 0
    unchanged: int = 0
    failed: dict[str, str] = field(default_factory=dict)


async def rotate_tenant(
    server_url: str | URL, tenant: TenantRecord, keyring: crypto.KeyRing
) -> tuple[int, int]:
    """Re-encrypt one tenant's credentials in one transaction; returns (rotated, unchanged)."""
    engine = create_async_engine(
        tenant_url(server_url, tenant), poolclass=NullPool, connect_args={"application_name": "omni:keys"}
    )
    rotated = unchanged = 0
    try:
        async with engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(SocialAccount.id, SocialAccount.credentials)
                    .where(SocialAccount.credentials.is_not(None))
                    .with_for_update()
                )
            ).all()
            for account_id, token in rows:
                if token is None:  # excluded by the query; narrows the type
                    continue
                # The catalog's tenant id, not the row's column: a row copied across tenants must fail.
                aad = crypto.binding(tenant.id, account_id, FIELD)
                fresh = keyring.rotate(token, aad=aad)
                if fresh == token:
                    unchanged += 1
                    continue
                await conn.execute(
                    update(SocialAccount).where(SocialAccount.id == account_id).values(credentials=fresh)
                )
                rotated += 1
            # The Web Push key (push_keys) is sealed by the same ring: rotated with the credentials.
            push = (await conn.execute(select(PushKey.private_key_encrypted).with_for_update())).scalar()
            if push is not None:
                fresh = keyring.rotate(push, aad=push_keys.sealing_aad(tenant.id))
                if fresh == push:
                    unchanged += 1
                else:
                    await conn.execute(update(PushKey).values(private_key_encrypted=fresh))
                    rotated += 1
    finally:
        await engine.dispose()
    return rotated, unchanged


async def rotate_keys(
    database_url: str | URL, keyring: crypto.KeyRing, *, concurrency: int = 4
) -> RotateReport:
    """Rotate every active/suspended tenant; one tenant's failure is reported, not raised."""
    report = RotateReport()
    engine = catalog_engine(database_url, pool_size=1, max_overflow=1)
    try:
        tenants = await Catalog(engine).list_tenants(ROTATABLE)
    finally:
        await engine.dispose()
    semaphore = asyncio.Semaphore(max(1, concurrency))

    async def one(tenant: TenantRecord) -> None:
        async with semaphore:
            try:
                rotated, unchanged = await rotate_tenant(database_url, tenant, keyring)
            except Exception as exc:
                report.failed[tenant.slug] = describe_error(exc)
                log.error("key_rotation_failed", tenant_id=str(tenant.id), error=report.failed[tenant.slug])
                return
        report.tenants += 1
        report.rotated += rotated
        report.unchanged += unchanged

    await asyncio.gather(*(one(t) for t in tenants))
    log.info("key_rotation_done", tenants=report.tenants, rotated=report.rotated, primary=keyring.primary_id)
    return report
