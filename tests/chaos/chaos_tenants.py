"""Tenants for fault tests: a catalog of their own, N tenants from the template, three accounts each."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from chaos_load import CHANNELS, Tenant

from omni_common.crypto import KeyRing
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.tenancy.accounts import connect_account
from omni_common.tenancy.migrate import migrate_all
from omni_common.tenancy.provisioning import Provisioner

# Owners never sign in during these tests: the cheapest hash keeps 1,000 tenants quick.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _account_id() -> str:
    return f"{secrets.randbelow(10**14):014d}"


async def provision_tenants(
    catalog_url: str, keys: list[str], count: int, *, prefix: str = "chaos", concurrency: int = 4
) -> list[Tenant]:
    """Migrate the catalog (and template), create ``count`` tenants, connect an account per channel.

    Peak connections: ``concurrency`` creations plus the catalog pool (2+2) and ``concurrency`` engines.
    """
    await migrate_all(catalog_url)
    engine = catalog_engine(catalog_url, pool_size=2, max_overflow=2)
    catalog = Catalog(engine)
    provisioner = Provisioner(catalog, catalog_url, hasher=FAST_HASHER)
    registry = TenantEngineRegistry(
        catalog=catalog, server_url=catalog_url, connections_per_server=concurrency
    )
    keyring = KeyRing.from_strings(keys)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(n: int) -> Tenant:
        async with semaphore:
            slug = f"{prefix}-{n:04d}"
            record = await provisioner.create_tenant(
                slug, display_name=slug, owner_email=f"o@{slug}.test", owner_password="owner-pass-1"
            )
            accounts = {channel: _account_id() for channel in CHANNELS}
            async with registry.begin(record.id) as session:
                for channel, account in accounts.items():
                    await connect_account(
                        session,
                        catalog=catalog,
                        keyring=keyring,
                        tenant_id=record.id,
                        channel=channel,
                        external_account_id=account,
                        token=f"token-{account}",
                    )
            return Tenant(slug, str(record.id), record.db_name, accounts)

    try:
        return list(await asyncio.gather(*(one(n) for n in range(count))))
    finally:
        await registry.close()
        await engine.dispose()
