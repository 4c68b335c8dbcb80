"""Credentials stay bound to their tenant and account, and key rotation keeps them all readable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from omni_common import crypto
from omni_common.db.catalog import Catalog, TenantRecord, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.db.tenant_models import SocialAccount
from omni_common.errors import DecryptionError
from omni_common.settings import Settings
from omni_common.tenancy import push_keys
from omni_common.tenancy.keys import rotate_keys
from omni_common.tenancy.migrate import migrate_all
from omni_common.tenancy.provisioning import Provisioner

pytestmark = pytest.mark.integration

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
OLD, NEW = crypto.generate_key(), crypto.generate_key()


@pytest.fixture(scope="module")
async def env(settings: Settings, namespace: str) -> AsyncIterator[SimpleNamespace]:
    url = settings.database_url.rsplit("/", 1)[0] + f"/{namespace}_k"
    await migrate_all(url)
    engine = catalog_engine(url)
    catalog = Catalog(engine)
    registry = TenantEngineRegistry(catalog, server_url=url, connections_per_server=4)
    provisioner = Provisioner(catalog, url, hasher=FAST_HASHER)
    tenants = [
        await provisioner.create_tenant(
            slug, display_name=slug, owner_email=f"o@{slug}.example", owner_password="owner-pass-1"
        )
        for slug in ("keys-a", "keys-b")
    ]
    yield SimpleNamespace(url=url, catalog=catalog, registry=registry, tenants=tenants)
    await registry.close()
    await engine.dispose()


async def _add_account(
    registry: TenantEngineRegistry, tenant: TenantRecord, ring: crypto.KeyRing, external: str, secret: str
) -> SocialAccount:
    async with registry.begin(tenant.id) as session:
        account = SocialAccount(tenant_id=tenant.id, platform="facebook", external_account_id=external)
        session.add(account)
        await session.flush()
        account.credentials = ring.encrypt(secret, aad=crypto.binding(tenant.id, account.id, "credentials"))
        account.credentials_hint = secret[-4:]
    return account


async def _read_all(
    registry: TenantEngineRegistry, tenant: TenantRecord, ring: crypto.KeyRing
) -> dict[str, str]:
    async with registry.session(tenant.id) as session:
        rows = (await session.scalars(select(SocialAccount))).all()
    return {
        r.external_account_id: ring.decrypt(r.credentials, aad=crypto.binding(tenant.id, r.id, "credentials"))
        for r in rows
        if r.credentials
    }


async def test_rotation_keeps_every_credential_readable(env: SimpleNamespace) -> None:
    old_ring = crypto.KeyRing.from_strings([OLD])
    expected: dict[str, dict[str, str]] = {}
    for tenant in env.tenants:
        for n in range(3):
            secret = f"token-{tenant.slug}-{n}"
            await _add_account(env.registry, tenant, old_ring, f"page-{tenant.slug}-{n}", secret)
            expected.setdefault(tenant.slug, {})[f"page-{tenant.slug}-{n}"] = secret
    first = env.tenants[0]
    async with env.registry.begin(first.id) as session:  # the tenant's Web Push key, same ring
        pair = await push_keys.ensure_pair(session, first.id, old_ring)

    report = await rotate_keys(env.url, crypto.KeyRing.from_strings([NEW, OLD]))
    assert (report.tenants, report.rotated, report.unchanged, report.failed) == (2, 7, 0, {})
    async with env.registry.begin(first.id) as session:
        assert await push_keys.ensure_pair(session, first.id, crypto.KeyRing.from_strings([NEW])) == pair

    new_only = crypto.KeyRing.from_strings([NEW])  # the old key can now be retired
    for tenant in env.tenants:
        assert await _read_all(env.registry, tenant, new_only) == expected[tenant.slug]
        with pytest.raises(DecryptionError, match="not in the key ring"):
            await _read_all(env.registry, tenant, old_ring)

    again = await rotate_keys(env.url, crypto.KeyRing.from_strings([NEW, OLD]))
    assert (again.rotated, again.unchanged, again.failed) == (0, 7, {})  # idempotent


async def test_ciphertext_moved_to_another_tenant_or_account_fails(env: SimpleNamespace) -> None:
    ring = crypto.KeyRing.from_strings([NEW])
    a, b = env.tenants
    src = await _add_account(env.registry, a, ring, "moved-src", "EAAG-moved-secret")
    other_in_a = await _add_account(env.registry, a, ring, "moved-sibling", "sibling-secret")
    dst = await _add_account(env.registry, b, ring, "moved-dst", "dst-secret")
    # Tenant B's row gets tenant A's ciphertext (a copy/paste bug, a bad restore, a malicious edit).
    async with env.registry.begin(b.id) as session:
        await session.execute(
            update(SocialAccount).where(SocialAccount.id == dst.id).values(credentials=src.credentials)
        )
    async with env.registry.session(b.id) as session:
        moved = await session.get(SocialAccount, dst.id)
    assert moved is not None
    assert moved.credentials == src.credentials
    with pytest.raises(DecryptionError):
        ring.decrypt(moved.credentials, aad=crypto.binding(b.id, dst.id, "credentials"))
    # Same tenant, another account: also refused.
    with pytest.raises(DecryptionError):
        ring.decrypt(src.credentials, aad=crypto.binding(a.id, other_in_a.id, "credentials"))
    # Even with the same account id, the tenant differs.
    with pytest.raises(DecryptionError):
        ring.decrypt(src.credentials, aad=crypto.binding(b.id, src.id, "credentials"))
    assert ring.decrypt(src.credentials, aad=crypto.binding(a.id, src.id, "credentials")) == (
        "EAAG-moved-secret"
    )
