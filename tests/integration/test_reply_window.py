"""The 24-hour reply window at its edge: 23:59:59 after the customer's last message it is open, at
24:00:00 it is closed, and everyone says so alike.

- the inbox (here, on real PostgreSQL): ``queue_reply`` and ``queue_reaction`` queue at 24 h - 1 s
  and refuse with ``WindowClosed`` at 24 h; the conversation JSON's ``reply_window_open`` agrees;
- the sender: ``tests/unit/test_outbound_decisions.py::test_the_sender_refuses_from_exactly_24_hours``;
- the page's countdown: ``tests/browser/test_countdown_browser.py``.

All of them ask ``omni_common.domain.reply_window``; these tests keep anyone from answering alone.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from inbox_support import SeededTenant, seed_tenant
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.conversations.service import get_conversation
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.db.tenant_models import Chat, User
from omni_common.domain.reply_window import REPLY_WINDOW
from omni_common.outbound.replies import QueuedReply, WindowClosed, queue_reaction, queue_reply
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
JUST_OPEN = REPLY_WINDOW - timedelta(seconds=1)  # 23:59:59
JUST_CLOSED = REPLY_WINDOW  # 24:00:00


@pytest.fixture(scope="module")
async def tenant(settings: Settings) -> SeededTenant:
    return await seed_tenant(settings, f"window-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
async def registry(settings: Settings, tenant: SeededTenant) -> AsyncIterator[TenantEngineRegistry]:
    engine = catalog_engine(settings.database_url)
    registry = TenantEngineRegistry(
        catalog=Catalog(engine), server_url=settings.database_url, connections_per_server=4
    )
    try:
        yield registry
    finally:
        await registry.close()
        await engine.dispose()


async def _send(session: AsyncSession, tenant: SeededTenant, what: str, now: datetime) -> QueuedReply:
    owner = await session.scalar(select(User.id).where(User.email == tenant.users["business_owner"]))
    assert owner is not None
    chat_id = tenant.chats["whatsapp"]
    if what == "reply":
        return await queue_reply(
            session, tenant_id=tenant.id, chat_id=chat_id, text="See you at 8", user_id=owner, now=now
        )
    return await queue_reaction(
        session,
        tenant_id=tenant.id,
        chat_id=chat_id,
        message_id=tenant.messages["whatsapp"],
        emoji="👍",
        user_id=owner,
        now=now,
    )


@pytest.mark.parametrize("what", ["reply", "reaction"])
@pytest.mark.parametrize(("elapsed", "is_open"), [(JUST_OPEN, True), (JUST_CLOSED, False)])
async def test_the_inbox_agrees_with_itself_at_the_edge_of_the_window(
    registry: TenantEngineRegistry, tenant: SeededTenant, what: str, elapsed: timedelta, is_open: bool
) -> None:
    # A session that is never committed: what the test queues is rolled back when it closes.
    async with registry.session(tenant.id) as session:
        chat = await session.get(Chat, tenant.chats["whatsapp"])
        assert chat is not None
        assert chat.last_inbound_at is not None
        now = chat.last_inbound_at + elapsed
        view = await get_conversation(session, chat.id, now=now)
        assert view["reply_window_open"] is is_open
        assert view["reply_window_closes_at"] == (chat.last_inbound_at + REPLY_WINDOW).isoformat()
        if is_open:
            queued = await _send(session, tenant, what, now)
            assert queued.created_at == now
        else:
            with pytest.raises(WindowClosed, match="more than 24 hours ago"):
                await _send(session, tenant, what, now)
