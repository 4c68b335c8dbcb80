"""Shared set-up of the inbox tests: tenants with users of every role, chats, and a served inbox app."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from sandbox_server import serve

from inbox_api.app import create_app
from inbox_api.main import open_deps, serves_api_docs
from omni_common.crypto import KeyRing
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.db.tenant_models import ROLES, Chat, ChatMessage, Contact
from omni_common.settings import Settings
from omni_common.tenancy.accounts import connect_account
from omni_common.tenancy.migrate import migrate_all
from omni_common.tenancy.provisioning import create_tenant
from omni_common.tenancy.users import add_user

# Cheap argon2 parameters: the tests check behaviour, not hashing cost.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "secret-pass-1"


@dataclass
class SeededTenant:
    slug: str
    id: uuid.UUID
    db_name: str
    users: dict[str, str] = field(default_factory=dict)  # role -> email
    accounts: dict[str, uuid.UUID] = field(default_factory=dict)  # channel -> social account id
    account_ids: dict[str, str] = field(default_factory=dict)  # channel -> external account id
    chats: dict[str, uuid.UUID] = field(default_factory=dict)  # channel -> chat id
    messages: dict[str, uuid.UUID] = field(default_factory=dict)  # channel -> inbound message id
    contacts: dict[str, str] = field(default_factory=dict)  # channel -> contact's platform id
    wabas: dict[str, str] = field(default_factory=dict)  # channel -> WhatsApp business account id


def _digits() -> str:
    return str(uuid.uuid4().int)[:15]


async def seed_tenant(settings: Settings, slug: str, *, stale_channel: str | None = None) -> SeededTenant:
    """A tenant with one user per role, an account and a one-message chat per channel."""
    await migrate_all(settings.database_url)
    record = await create_tenant(
        settings.database_url,
        slug,
        display_name=slug.title(),
        owner_email=f"owner@{slug}.test",
        owner_password=PASSWORD,
    )
    seeded = SeededTenant(slug, record.id, record.db_name, users={"business_owner": f"owner@{slug}.test"})
    engine = catalog_engine(settings.database_url)
    catalog = Catalog(engine)
    registry = TenantEngineRegistry(
        catalog=catalog, server_url=settings.database_url, connections_per_server=4
    )
    keyring = KeyRing.from_strings(settings.encryption_key_list())
    now = datetime.now(UTC)
    try:
        async with registry.begin(record.id) as session:
            for role in ROLES:
                if role == "business_owner":
                    continue
                email = f"{role}@{slug}.test"
                await add_user(session, email, PASSWORD, role, display_name=role.title(), hasher=CHEAP_HASHER)
                seeded.users[role] = email
            for i, channel in enumerate(("whatsapp", "facebook", "instagram")):
                ext = _digits()
                waba = _digits() if channel == "whatsapp" else None
                view = await connect_account(
                    session,
                    catalog=catalog,
                    keyring=keyring,
                    tenant_id=record.id,
                    channel=channel,
                    external_account_id=ext,
                    token=f"token-{ext}",
                    waba_id=waba,
                    display_name=f"{slug} {channel}",
                )
                seeded.accounts[channel] = view.id
                seeded.account_ids[channel] = ext
                contact = Contact(
                    social_account_id=view.id,
                    channel=channel,
                    external_id=_digits(),
                    display_name=f"{slug} customer {channel}",
                    handle=f"+{_digits()}",
                )
                session.add(contact)
                await session.flush()
                at = now - timedelta(minutes=10 + i)
                inbound = at if channel != stale_channel else now - timedelta(days=2)
                chat = Chat(
                    social_account_id=view.id,
                    contact_id=contact.id,
                    channel=channel,
                    last_message_at=at,
                    last_inbound_at=inbound,
                    last_message_preview=f"hello from {slug} {channel}",
                    unread_count=2,
                )
                session.add(chat)
                await session.flush()
                msg = ChatMessage(
                    tenant_id=record.id,
                    chat_id=chat.id,
                    channel=channel,
                    external_message_id=f"ext-{_digits()}",
                    direction="inbound",
                    sender_name=contact.display_name,
                    sender_handle=contact.handle,
                    kind="text",
                    text=f"hello from {slug} {channel}",
                    status="received",
                    platform_timestamp=at,
                )
                session.add(msg)
                await session.flush()
                seeded.chats[channel] = chat.id
                seeded.contacts[channel] = contact.external_id
                seeded.wabas[channel] = waba or ""
                seeded.messages[channel] = msg.id
    finally:
        await registry.close()
        await engine.dispose()
    return seeded


def seed(settings: Settings, slug: str, *, stale_channel: str | None = None) -> SeededTenant:
    return asyncio.run(seed_tenant(settings, slug, stale_channel=stale_channel))


@contextmanager
def running_inbox(
    settings: Settings, *, declare: bool = False, heartbeat_s: float = 15.0, session_recheck_s: float = 30.0
) -> Iterator[str]:
    """The inbox app served on a free 127.0.0.1 port (its own loop and connections); yields its URL."""
    app = create_app(
        lambda: open_deps(
            settings,
            declare=declare,
            hasher=CHEAP_HASHER,
            heartbeat_s=heartbeat_s,
            session_recheck_s=session_recheck_s,
        ),
        api_docs=serves_api_docs(settings),
    )
    with serve(app) as url:
        yield url


def genuine_token(settings: Settings, tenant: SeededTenant, role: str) -> str:
    """A correctly signed token with a live session row for the user of ``role``, as if they had signed
    in while their role allowed it and their role was then changed in the database behind the inbox's
    back (no session ended): the inbox must still refuse a role that may not use it."""
    import psycopg

    from inbox_api.auth.sessions import TokenSigner
    from inbox_api.main import session_secret
    from omni_common.dburl import libpq_conninfo

    signer = TokenSigner(session_secret(settings))
    with psycopg.connect(
        libpq_conninfo(settings.database_url, database=tenant.db_name), autocommit=True
    ) as conn:
        row = conn.execute("SELECT id FROM users WHERE email = %s", (tenant.users[role],)).fetchone()
        assert row is not None
        token = signer.issue(tenant_id=tenant.id, user_id=row[0], role="manager")
        claims = signer.verify(token)
        conn.execute(
            "INSERT INTO user_sessions (id, user_id, expires_at) VALUES (%s, %s, to_timestamp(%s))",
            (claims.sid, row[0], claims.expires_at),
        )
    return token
