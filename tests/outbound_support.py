"""Helpers (no tests) for the outbound test modules: tenants, chats, queued replies, the sender."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox_server import SandboxControl

from omni_common.broker.publisher import Publisher
from omni_common.broker.topology import Topology
from omni_common.contracts import SendReply
from omni_common.crypto import KeyRing
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.db.tenant_models import Chat, ChatMessage, Contact, Outbox
from omni_common.domain.channels import Channel
from omni_common.graph import GraphClient
from omni_common.outbound.commands import command_message, publish_command
from omni_common.settings import Settings
from omni_common.tenancy.accounts import connect_account
from omni_common.tenancy.migrate import migrate_all
from omni_common.tenancy.provisioning import create_tenant
from outbound_sender.deps import SenderDeps
from outbound_sender.store import SessionSendStore


@dataclass
class Db:
    """A tenant and a registry to reach its database from the test's event loop."""

    settings: Settings
    registry: TenantEngineRegistry
    catalog: Catalog
    tenant_id: uuid.UUID
    db_name: str


@asynccontextmanager
async def tenant_db(settings: Settings, slug_prefix: str) -> AsyncIterator[Db]:
    """A fresh tenant (unique slug) and a registry on it, closed afterwards."""
    await migrate_all(settings.database_url)
    slug = f"{slug_prefix}-{secrets.token_hex(3)}"
    tenant = await create_tenant(
        settings.database_url,
        slug,
        display_name=slug,
        owner_email=f"o@{slug}.test",
        owner_password="pw-1234567",
    )
    engine = catalog_engine(settings.database_url)
    catalog = Catalog(engine)
    registry = TenantEngineRegistry(
        catalog=catalog,
        server_url=settings.database_url,
        connections_per_server=4,
        acquire_timeout_s=settings.db_acquire_timeout_s or 5.0,
    )
    try:
        yield Db(settings, registry, catalog, tenant.id, tenant.db_name)
    finally:
        await registry.close()
        await engine.dispose()


async def connect(db: Db, channel: str, account_id: str, token: str) -> uuid.UUID:
    """Connect an account (no Graph verification: the sandbox knows it already)."""
    keyring = KeyRing.from_strings(db.settings.encryption_key_list())
    async with db.registry.begin(db.tenant_id) as session:
        view = await connect_account(
            session,
            catalog=db.catalog,
            keyring=keyring,
            tenant_id=db.tenant_id,
            channel=channel,
            external_account_id=account_id,
            token=token,
        )
    return view.id


async def add_chat(
    db: Db, social_account_id: uuid.UUID, channel: str, customer: str, *, inbound_hours_ago: float = 1.0
) -> uuid.UUID:
    """A contact and its chat whose customer last wrote ``inbound_hours_ago`` hours ago."""
    async with db.registry.begin(db.tenant_id) as session:
        contact = Contact(social_account_id=social_account_id, channel=channel, external_id=customer)
        session.add(contact)
        await session.flush()
        chat = Chat(
            social_account_id=social_account_id,
            contact_id=contact.id,
            channel=channel,
            last_inbound_at=datetime.now(UTC) - timedelta(hours=inbound_hours_ago),
        )
        session.add(chat)
        await session.flush()
        return chat.id


async def add_inbound(db: Db, chat_id: uuid.UUID, channel: str, external_id: str) -> uuid.UUID:
    """An inbound message of the chat (something to reply to)."""
    async with db.registry.begin(db.tenant_id) as session:
        msg = ChatMessage(
            tenant_id=db.tenant_id,
            chat_id=chat_id,
            channel=channel,
            external_message_id=external_id,
            direction="inbound",
            kind="text",
            text="¿Tienen mesa?",
            status="received",
        )
        session.add(msg)
        await session.flush()
        return msg.id


async def queue_reply(
    db: Db,
    chat_id: uuid.UUID,
    channel: Channel,
    text: str,
    *,
    reply_to: uuid.UUID | None = None,
    outbox_age_s: float | None = None,
) -> uuid.UUID:
    """An outbound 'queued' message as the inbox writes it (plus a stale outbox row if ``outbox_age_s``)."""
    async with db.registry.begin(db.tenant_id) as session:
        msg = ChatMessage(
            tenant_id=db.tenant_id,
            chat_id=chat_id,
            channel=channel,
            direction="outbound",
            kind="text",
            text=text,
            status="queued",
            reply_to_message_id=reply_to,
        )
        session.add(msg)
        await session.flush()
        if outbox_age_s is not None:
            command = SendReply(tenant_id=db.tenant_id, message_id=msg.id, channel=channel)
            session.add(
                Outbox(
                    message_id=msg.id,
                    kind="reply.send",
                    payload=command.model_dump(mode="json"),
                    created_at=datetime.now(UTC) - timedelta(seconds=outbox_age_s),
                )
            )
        return msg.id


async def publish_reply(
    publisher: Publisher, topology: Topology, db: Db, message_id: uuid.UUID, channel: Channel
) -> None:
    """Publish the SendReply command as the inbox does after its commit."""
    command = SendReply(tenant_id=db.tenant_id, message_id=message_id, channel=channel)
    message = command_message(command, message_id=str(message_id))
    await publish_command(publisher, message, exchange=topology.events_exchange)


async def message(db: Db, message_id: uuid.UUID) -> ChatMessage:
    """The message row as stored now."""
    async with db.registry.session(db.tenant_id) as session:
        row = await session.get(ChatMessage, message_id, populate_existing=True)
        assert row is not None
        return row


def direct_deps(
    ctl: SandboxControl, db: Db, settings: Settings, pacer: Any, *, retry_delays: int, **extra: Any
) -> SenderDeps:
    """Deps for calling the sender's handler directly (no broker): notifications are dropped."""

    async def notify(_event: Any) -> None:
        return None

    return SenderDeps(
        store=SessionSendStore(db.registry.begin),
        graph=GraphClient(ctl.http, ctl.graph_url),
        keyring=KeyRing.from_strings(settings.encryption_key_list()),
        pacer=pacer,
        notify=notify,
        retry_delays=retry_delays,
        **extra,
    )
