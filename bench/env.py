"""The run's own catalog database, RabbitMQ vhost and tenants; everything is removed at the end.

Names are ``omnibench_<random>``: the catalog database, the tenant databases derived from it
(``<catalog>_t_<uuid>``, ``<catalog>_template``) and the vhost. Nothing else on the servers is touched.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
import psycopg
from psycopg import sql

from bench.config import AMQP_BASE, APP_SECRET, MGMT_AUTH, MGMT_URL, PG_ADMIN_URL, VERIFY_TOKEN
from omni_common.crypto import KeyRing
from omni_common.db.catalog import Catalog, TenantRecord, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.db.servers import split_secret, tenant_url
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings
from omni_common.tenancy.accounts import connect_account
from omni_common.tenancy.migrate import migrate_all
from omni_common.tenancy.provisioning import create_tenant

CHANNELS = ("whatsapp", "facebook", "instagram")
CUSTOMER_WA_ID = "4915100000000"


@dataclass(frozen=True)
class BenchTenant:
    index: int
    id: uuid.UUID
    db_name: str
    accounts: dict[str, str]  # channel -> external account id
    waba_id: str
    outbound_pool: int  # pre-inserted outbound WhatsApp messages "wamid.out.<index>.<k>", k in 1..pool


@dataclass
class BenchEnv:
    name: str
    settings: Settings
    pg_admin_url: str = PG_ADMIN_URL
    extra_servers: tuple[str, ...] = ()  # admin URLs of the run's further database servers
    vhost_created: bool = False
    tenants: list[BenchTenant] = field(default_factory=list)
    # Each tenant database's conninfo on its own server (from the catalog: ``tenant_url``).
    tenant_conninfos: dict[str, str] = field(default_factory=dict)

    @property
    def vhost(self) -> str:
        return self.name

    def service_env(self) -> dict[str, str]:
        """OMNI_* variables pointing a service at this run's catalog and vhost."""
        s = self.settings
        return {
            "OMNI_DATABASE_URL": s.database_url,
            "OMNI_RABBITMQ_URL": s.rabbitmq_url,
            "OMNI_ENCRYPTION_KEYS": s.encryption_keys.get_secret_value(),
            "OMNI_META_APP_SECRETS": APP_SECRET,
            "OMNI_META_VERIFY_TOKEN": VERIFY_TOKEN,
            "OMNI_GRAPH_API_URL": "http://127.0.0.1:9/v21.0",
            "OMNI_MEDIA_HOSTS": "127.0.0.1",
            "OMNI_LOG_JSON": "true",
            "OMNI_LOG_LEVEL": "WARNING",
            "OMNI_HEALTH_PORT": "0",
            # guest on the local broker and the postgres superuser: production refuses both.
            "OMNI_ENV": "development",
        }

    def conninfo(self, database: str | None = None) -> str:
        """A tenant database's (on its server, once ``remember``ed), else one on the catalog's server."""
        if database is not None and database in self.tenant_conninfos:
            return self.tenant_conninfos[database]
        return libpq_conninfo(self.settings.database_url, database=database)

    def remember(self, tenant: TenantRecord) -> None:
        """Note where the catalog says ``tenant``'s database is (it may be on another server)."""
        self.tenant_conninfos[tenant.db_name] = libpq_conninfo(tenant_url(self.settings.database_url, tenant))


def server_names(env: BenchEnv) -> dict[str, str]:
    """Database server name -> admin URL: ``main`` (the catalog's) and ``bench2``… (``--servers``)."""
    extra = {f"bench{i}": url for i, url in enumerate(env.extra_servers, start=2)}
    return {"main": env.pg_admin_url, **extra}


def new_env(pg_admin_url: str = PG_ADMIN_URL, extra_servers: tuple[str, ...] = ()) -> BenchEnv:
    name = f"omnibench_{secrets.token_hex(4)}"
    base = pg_admin_url.rsplit("/", 1)[0]
    settings = Settings(
        _env_file=None,
        database_url=f"{base}/{name}",
        rabbitmq_url=f"{AMQP_BASE}/{quote(name, safe='')}",
        encryption_keys=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        meta_app_secrets=APP_SECRET,
        meta_verify_token=VERIFY_TOKEN,
    )
    return BenchEnv(name=name, settings=settings, pg_admin_url=pg_admin_url, extra_servers=extra_servers)


def mgmt_client() -> httpx.Client:
    return httpx.Client(base_url=MGMT_URL, auth=MGMT_AUTH, timeout=60)


def create_vhost(env: BenchEnv) -> None:
    """One vhost for the whole run (created once, deleted once at the end)."""
    name = quote(env.vhost, safe="")
    with mgmt_client() as api:
        api.put(f"/api/vhosts/{name}").raise_for_status()
        env.vhost_created = True
        api.put(
            f"/api/permissions/{name}/{MGMT_AUTH[0]}", json={"configure": ".*", "write": ".*", "read": ".*"}
        ).raise_for_status()


def purge_queue(env: BenchEnv, queue: str) -> None:
    with mgmt_client() as api:
        api.delete(f"/api/queues/{quote(env.vhost, safe='')}/{quote(queue, safe='')}/contents")


def teardown(env: BenchEnv) -> None:
    """Delete this run's vhost and databases (and only those)."""
    if env.vhost_created:
        with mgmt_client() as api:
            api.delete(f"/api/vhosts/{quote(env.vhost, safe='')}")
        env.vhost_created = False
    prefix = env.name.replace("_", r"\_") + "%"
    # Further servers first: the catalog (on the first) is what lists their databases.
    for admin_url in (*env.extra_servers, env.pg_admin_url):
        with psycopg.connect(admin_url, autocommit=True) as conn:
            names = [
                r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix,))
            ]
            for db in names:
                assert db.startswith(env.name)
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


def account_ids(index: int) -> tuple[dict[str, str], str]:
    """Deterministic, catalog-unique account ids of tenant ``index`` (and its WABA id)."""
    return (
        {"whatsapp": f"1{index:014d}", "facebook": f"3{index:014d}", "instagram": f"4{index:014d}"},
        f"2{index:014d}",
    )


async def _connect_accounts(env: BenchEnv, tenant_id: uuid.UUID, accounts: dict[str, str]) -> None:
    engine = catalog_engine(env.settings.database_url, pool_size=1, max_overflow=1)
    catalog = Catalog(engine)
    registry = TenantEngineRegistry(
        catalog=catalog, server_url=env.settings.database_url, connections_per_server=4
    )
    keyring = KeyRing.from_strings(env.settings.encryption_key_list())
    try:
        async with registry.begin(tenant_id) as session:
            for channel, account in accounts.items():
                await connect_account(
                    session,
                    catalog=catalog,
                    keyring=keyring,
                    tenant_id=tenant_id,
                    channel=channel,
                    external_account_id=account,
                    token=f"token-{account}",
                )
    finally:
        await registry.close()
        await engine.dispose()


async def _seed_outbound(conninfo: str, tenant_id: uuid.UUID, index: int, pool: int) -> None:
    """One WhatsApp chat with ``pool`` outbound messages in status ``sent``: targets of the statuses."""
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        cur = await conn.execute(
            "INSERT INTO contacts (social_account_id, channel, external_id, display_name) "
            "SELECT id, 'whatsapp', %s, 'Bench Customer' FROM social_accounts WHERE platform = 'whatsapp' "
            "RETURNING id, social_account_id",
            (CUSTOMER_WA_ID,),
        )
        contact_id, account_id = await cur.fetchone()
        cur = await conn.execute(
            "INSERT INTO chats (social_account_id, contact_id, channel)"
            " VALUES (%s, %s, 'whatsapp') RETURNING id",
            (account_id, contact_id),
        )
        (chat_id,) = await cur.fetchone()
        await conn.execute(
            "INSERT INTO chat_messages (tenant_id, chat_id, channel, external_message_id, direction, kind,"
            " text, status, platform_timestamp)"
            " SELECT %s, %s, 'whatsapp', 'wamid.out.' || %s || '.' || g, 'outbound', 'text',"
            " 'Your table is booked', 'sent', now() FROM generate_series(1, %s) AS g",
            (tenant_id, chat_id, index, pool),
        )
        await conn.execute("ANALYZE chat_messages")


async def _register_servers(env: BenchEnv) -> None:
    """``omni db-server add`` for each further server (trust auth here: no password variable)."""
    engine = catalog_engine(env.settings.database_url)
    try:
        catalog = Catalog(engine)
        for name, admin_url in server_names(env).items():
            if name != "main":
                await catalog.add_server(name, split_secret(admin_url)[0], password_env=None)
    finally:
        await engine.dispose()


async def provision_tenants(env: BenchEnv, count: int, outbound_pool: int, *, concurrency: int = 4) -> None:
    """Migrate the catalog, create ``count`` tenants with three accounts each and seed their outbound."""
    await migrate_all(env.settings.database_url)
    if env.extra_servers:
        await _register_servers(env)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(index: int) -> BenchTenant:
        async with semaphore:
            slug = f"bench-{index:04d}"
            record = await create_tenant(
                env.settings.database_url,
                slug,
                display_name=f"Bench {index}",
                owner_email=f"owner@{slug}.test",
                owner_password=f"pw-{slug}-123",
            )
            env.remember(record)
            accounts, waba = account_ids(index)
            await _connect_accounts(env, record.id, accounts)
            await _seed_outbound(env.conninfo(record.db_name), record.id, index, outbound_pool)
            return BenchTenant(index, record.id, record.db_name, accounts, waba, outbound_pool)

    env.tenants = list(await asyncio.gather(*(one(i) for i in range(count))))
