"""Provisioning, catalog isolation, account mapping and users against a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace

import psycopg
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, text

from omni_common import crypto
from omni_common.db.alembic_runner import head_revision
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.db.tenant_models import Chat, ChatMessage, Contact, SocialAccount, User
from omni_common.dburl import libpq_conninfo
from omni_common.errors import AccountConflict, NoTenantContext, TenantError, TenantNotActive, TenantNotFound
from omni_common.settings import Settings
from omni_common.tenancy import users
from omni_common.tenancy.migrate import migrate_all
from omni_common.tenancy.provisioning import Provisioner, tenant_db_name, validate_slug

pytestmark = pytest.mark.integration

# Cheap argon2 parameters: tests create many users; production uses the library defaults.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="module")
async def env(settings: Settings, namespace: str) -> AsyncIterator[SimpleNamespace]:
    url = settings.database_url.rsplit("/", 1)[0] + f"/{namespace}_p"  # this module's own catalog
    await migrate_all(url)
    engine = catalog_engine(url)
    catalog = Catalog(engine)
    registry = TenantEngineRegistry(catalog, server_url=url, connections_per_server=4, tenant_cache_seconds=0)
    provisioner = Provisioner(catalog, url, hasher=FAST_HASHER)
    yield SimpleNamespace(url=url, catalog=catalog, registry=registry, provisioner=provisioner)
    await registry.close()
    await engine.dispose()


async def _create(env: SimpleNamespace, slug: str, **kw: object):
    return await env.provisioner.create_tenant(
        slug,
        display_name=slug.title(),
        owner_email=f"Owner@{slug}.example",
        owner_password="owner-pass-1",
        **kw,
    )


def _catalog_rows(url: str) -> tuple[set[str], str]:
    """Tables of the catalog DB (all schemas but the system ones) and every row as JSON text."""
    with psycopg.connect(libpq_conninfo(url)) as conn:
        tables = {
            f"{s}.{t}"
            for s, t in conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            )
        }
        dump = "\n".join(
            row[0]
            for table in sorted(tables)
            for row in conn.execute(f"SELECT row_to_json(t)::text FROM {table} t")  # names from the catalog
        )
    return tables, dump


async def test_catalog_never_receives_tenant_data(env: SimpleNamespace) -> None:
    ring = crypto.KeyRing.from_strings([crypto.generate_key()])
    a = await _create(env, "iso-a")
    b = await _create(env, "iso-b")
    assert a.status == b.status == "active"
    assert a.db_name == tenant_db_name(env.url.rsplit("/", 1)[1], a.id)
    await env.catalog.map_account("whatsapp", "PNID-ISO-A", a.id)
    secret, message = "EAAG-very-secret-token-9876", "table for 4 at 8pm please"
    async with env.registry.begin(a.id) as session:
        await users.add_user(session, "Manager@Iso-A.example", "manager-pass", "manager", hasher=FAST_HASHER)
        account = SocialAccount(tenant_id=a.id, platform="whatsapp", external_account_id="PNID-ISO-A")
        session.add(account)
        await session.flush()
        account.credentials = ring.encrypt(secret, aad=crypto.binding(a.id, account.id, "credentials"))
        account.credentials_hint = secret[-4:]
        contact = Contact(
            social_account_id=account.id, channel="whatsapp", external_id="15550001", display_name="Ann"
        )
        session.add(contact)
        await session.flush()
        chat = Chat(social_account_id=account.id, contact_id=contact.id, channel="whatsapp")
        session.add(chat)
        await session.flush()
        session.add(
            ChatMessage(
                tenant_id=a.id,
                chat_id=chat.id,
                channel="whatsapp",
                external_message_id="wamid.ISO1",
                direction="inbound",
                kind="text",
                text=message,
                raw_payload={"text": {"body": message}},
            )
        )
    async with env.registry.session(a.id) as session:
        assert await session.scalar(select(func.count()).select_from(ChatMessage)) == 1
        assert await session.scalar(select(func.count()).select_from(User)) == 2
    async with env.registry.session(b.id) as session:  # nothing leaked into the other tenant either
        assert await session.scalar(select(func.count()).select_from(ChatMessage)) == 0

    tables, dump = _catalog_rows(env.url)
    assert tables == {
        "public.tenants",
        "public.channel_accounts",
        "public.db_servers",
        "public.tenant_moves",
        "public.alembic_version",
    }
    for needle in (
        "owner@iso-a.example",
        "manager@iso-a.example",
        "@",
        secret,
        secret[-4:],
        message,
        "wamid",
    ):
        assert needle not in dump.lower(), needle
    assert "PNID-ISO-A" in dump  # the mapping itself is the catalog's job


async def test_account_maps_to_one_tenant_only(env: SimpleNamespace) -> None:
    a = await _create(env, "map-a")
    b = await _create(env, "map-b")
    await env.catalog.map_account("facebook", "PAGE-1", a.id)
    await env.catalog.map_account("facebook", "PAGE-1", a.id)  # idempotent for the owner
    with pytest.raises(AccountConflict):
        await env.catalog.map_account("facebook", "PAGE-1", b.id)
    await env.catalog.map_account("instagram", "PAGE-1", b.id)  # another channel is another account
    route = await env.catalog.resolve_account("facebook", "PAGE-1")
    assert route is not None
    assert (route.tenant_id, route.tenant_status, route.is_enabled) == (
        a.id,
        "active",
        True,
    )
    assert await env.catalog.resolve_account("facebook", "nope") is None
    # The database itself refuses a second owner, whatever the code does.
    with psycopg.connect(libpq_conninfo(env.url)) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "INSERT INTO channel_accounts (channel, external_account_id, tenant_id) "
            "VALUES ('facebook', 'PAGE-1', %s)",
            (b.id,),
        )
    assert not await env.catalog.set_account_enabled("facebook", "PAGE-1", b.id, False)  # not b's
    assert await env.catalog.set_account_enabled("facebook", "PAGE-1", a.id, False)
    route = await env.catalog.resolve_account("facebook", "PAGE-1")
    assert route is not None
    assert not route.is_enabled
    assert not await env.catalog.unmap_account("facebook", "PAGE-1", b.id)
    assert await env.catalog.unmap_account("facebook", "PAGE-1", a.id)
    await env.catalog.map_account("facebook", "PAGE-1", b.id)  # free again: b may take it
    with pytest.raises(ValueError, match="channel"):
        await env.catalog.map_account("telegram", "X", a.id)


async def test_active_tenant_cannot_be_created_again(env: SimpleNamespace) -> None:
    first = await _create(env, "twice")
    with pytest.raises(TenantError, match="already exists"):
        await env.provisioner.create_tenant(
            "twice", display_name="Other", owner_email="intruder@x.example", owner_password="intruder-1"
        )
    again = await env.catalog.get_tenant_by_slug("twice")
    assert again is not None
    assert (again.id, again.display_name, again.updated_at) == (
        first.id,
        first.display_name,
        first.updated_at,
    )
    async with env.registry.session(first.id) as session:
        emails = (await session.scalars(select(User.email))).all()
    assert emails == ["owner@twice.example"]


@pytest.mark.parametrize("stop_after", ["row", "database", "migrate", "owner"])
async def test_killed_midway_create_is_finished_by_rerun(env: SimpleNamespace, stop_after: str) -> None:
    slug = f"crash-{stop_after}"
    partial = await _create(env, slug, stop_after=stop_after)
    assert partial.status == "provisioning"
    with pytest.raises(TenantNotActive):  # nothing routes to a half-made tenant
        async with env.registry.session(partial.id):
            pass
    if stop_after == "database":  # a second crash at the same point changes nothing
        await _create(env, slug, stop_after=stop_after)
    done = await _create(env, slug)
    assert (done.id, done.status, done.schema_revision) == (partial.id, "active", head_revision("tenant"))
    async with env.registry.session(done.id) as session:
        owners = (await session.scalars(select(User).where(User.role == "business_owner"))).all()
        assert await session.scalar(text("SELECT current_database()")) == done.db_name
    assert [u.email for u in owners] == [f"owner@{slug}.example"]
    assert users.verify_password(owners[0].password_hash, "owner-pass-1")


async def test_invalid_input_is_refused_before_anything_is_created(env: SimpleNamespace) -> None:
    for slug in ("A-upper", "-dash", "x", "a" * 50, "semi;colon", "dot.name", "x_y"):
        with pytest.raises(ValueError, match="slug"):
            validate_slug(slug)
        with pytest.raises(ValueError, match="slug"):
            await _create(env, slug)
    with pytest.raises(ValueError, match="password"):
        await env.provisioner.create_tenant(
            "shortpw", display_name="S", owner_email="o@s.example", owner_password="x"
        )
    assert await env.catalog.get_tenant_by_slug("shortpw") is None


async def test_users_and_registry_errors(env: SimpleNamespace) -> None:
    t = await _create(env, "people")
    async with env.registry.begin(t.id) as session:
        user = await users.add_user(
            session, " Staff@People.Example ", "staff-pass-1", "staff", hasher=FAST_HASHER
        )
        assert user.email == "staff@people.example"
    async with env.registry.begin(t.id) as session:
        with pytest.raises(users.UserExists):
            await users.add_user(session, "STAFF@people.example", "staff-pass-2", "staff", hasher=FAST_HASHER)
        with pytest.raises(ValueError, match="role"):
            await users.add_user(session, "x@people.example", "password-1", "root")
        stored = await users.get_user_by_email(session, "STAFF@PEOPLE.EXAMPLE")
    assert stored is not None
    assert users.verify_password(stored.password_hash, "staff-pass-1")
    assert not users.verify_password(stored.password_hash, "wrong-pass")
    assert not users.verify_password("not-a-hash", "staff-pass-1")

    with pytest.raises(NoTenantContext):
        async with env.registry.session(None):
            pass
    with pytest.raises(TenantNotFound):
        async with env.registry.session(uuid.uuid4()):
            pass
    await env.catalog.set_tenant_status(t.id, "suspended")
    with pytest.raises(TenantNotActive):
        async with env.registry.session(t.id):
            pass
    await env.catalog.set_tenant_status(t.id, "active")


async def test_catalog_changes_are_notified(env: SimpleNamespace) -> None:
    t = await _create(env, "notified")
    async with await psycopg.AsyncConnection.connect(libpq_conninfo(env.url), autocommit=True) as listener:
        await listener.execute("LISTEN omni_catalog_changed")
        await env.catalog.map_account("instagram", "IG-NOTE", t.id)
        await env.catalog.set_account_enabled("instagram", "IG-NOTE", t.id, False)
        await env.catalog.set_tenant_status(t.id, "active")
        await env.catalog.set_tenant_revision(t.id, "t0001")  # not a routing change: no notification
        await env.catalog.unmap_account("instagram", "IG-NOTE", t.id)
        payloads = [n.payload async for n in listener.notifies(timeout=0.5)]
    assert payloads == ["instagram:IG-NOTE", "instagram:IG-NOTE", "*", "instagram:IG-NOTE"]
