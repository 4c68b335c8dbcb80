"""Tenant schema t0003: a customer writing again reopens a conversation; the audit trail is append-only."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from inbox_support import SeededTenant, seed
from sqlalchemy import select, text

from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.db.tenant_models import AuditEntry, Chat, ChatMessage
from omni_common.settings import Settings
from omni_common.tenancy.audit import Actor, record


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"schema{uuid.uuid4().hex[:6]}")


def _run(settings: Settings, tenant_id: uuid.UUID, work):
    async def go():
        engine = catalog_engine(settings.database_url)
        registry = TenantEngineRegistry(
            catalog=Catalog(engine), server_url=settings.database_url, connections_per_server=4
        )
        try:
            async with registry.begin(tenant_id) as session:
                return await work(session)
        finally:
            await registry.close()
            await engine.dispose()

    return asyncio.run(go())


def _inbound(
    tenant: SeededTenant, chat_id: uuid.UUID, direction: str = "inbound", kind: str = "text"
) -> ChatMessage:
    return ChatMessage(
        tenant_id=tenant.id,
        chat_id=chat_id,
        channel="whatsapp",
        external_message_id=f"wamid.{uuid.uuid4().hex}",
        direction=direction,
        kind=kind,
        text="again",
        status="received" if direction == "inbound" else "queued",
    )


@pytest.mark.parametrize("state", ["resolved", "snoozed"])
def test_inbound_message_reopens_a_resolved_or_snoozed_chat(
    settings: Settings, tenant: SeededTenant, state: str
) -> None:
    chat_id = tenant.chats["whatsapp"]
    until = datetime.now(UTC) + timedelta(days=1) if state == "snoozed" else None

    async def close_then_write(session):
        await session.execute(
            Chat.__table__.update().where(Chat.id == chat_id).values(state=state, snoozed_until=until)
        )
        session.add(_inbound(tenant, chat_id, direction="outbound"))  # staff writing does not reopen
        await session.flush()
        after_outbound = await session.scalar(select(Chat.state).where(Chat.id == chat_id))
        session.add(_inbound(tenant, chat_id))
        await session.flush()
        row = (await session.execute(select(Chat.state, Chat.snoozed_until).where(Chat.id == chat_id))).one()
        return after_outbound, row

    after_outbound, row = _run(settings, tenant.id, close_then_write)
    assert after_outbound == state
    assert (row.state, row.snoozed_until) == ("open", None)


@pytest.mark.parametrize("kind", ["reaction", "deleted"])
def test_a_reaction_or_a_deletion_leaves_a_resolved_chat_resolved(
    settings: Settings, tenant: SeededTenant, kind: str
) -> None:
    chat_id = tenant.chats["whatsapp"]

    async def close_then_react(session):
        await session.execute(Chat.__table__.update().where(Chat.id == chat_id).values(state="resolved"))
        session.add(_inbound(tenant, chat_id, kind=kind))  # a 👍, or the placeholder of an unsent message
        await session.flush()
        return await session.scalar(select(Chat.state).where(Chat.id == chat_id))

    assert _run(settings, tenant.id, close_then_react) == "resolved"


def test_a_snoozed_chat_needs_a_time(settings: Settings, tenant: SeededTenant) -> None:
    async def snooze_forever(session):
        await session.execute(text("UPDATE chats SET state = 'snoozed', snoozed_until = NULL"))

    with pytest.raises(Exception, match="snooze_has_time"):
        _run(settings, tenant.id, snooze_forever)


def test_audit_trail_is_append_only_and_keeps_no_secrets(settings: Settings, tenant: SeededTenant) -> None:
    actor = Actor(uuid.uuid4(), "owner@x.test")

    async def write(session):
        await record(
            session,
            actor,
            "account.connected",
            target_type="social_account",
            target_id=tenant.accounts["whatsapp"],
            details={"channel": "whatsapp", "token": "EAAG-secret", "Password": "pw"},
        )
        return (
            await session.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
        ).scalar_one()

    entry = _run(settings, tenant.id, write)
    assert entry.details == {"channel": "whatsapp"}
    assert (entry.actor_email, entry.action, entry.target_id) == (
        "owner@x.test",
        "account.connected",
        str(tenant.accounts["whatsapp"]),
    )
    dsn = settings.database_url.rsplit("/", 1)[0] + "/" + tenant.db_name
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] >= 1
