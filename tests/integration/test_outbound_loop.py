"""The whole loop: a customer writes, staff reply, the reply goes queued -> sent -> delivered -> read.

Real ingress, router, normalizer and outbound-sender (threads with their own loops) on the session's full
topology, the Meta sandbox sending signed status webhooks back to the ingress.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from outbound_support import Db, connect, message, publish_reply, queue_reply, tenant_db
from pipeline import Pipeline, await_until, running_pipeline, running_sender
from sandbox_server import SandboxControl, sandbox
from sqlalchemy import select
from testenv import APP_SECRET

from meta_sandbox import SandboxConfig
from omni_common.broker.connection import connect as amqp_connect
from omni_common.broker.publisher import Publisher
from omni_common.db.tenant_models import Chat, ChatMessage
from omni_common.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pipe(settings: Settings) -> Iterator[Pipeline]:
    with running_pipeline(settings) as p:
        yield p


@pytest.fixture(scope="module")
def root_url(pipe: Pipeline) -> Iterator[str]:
    # Statuses a little apart, so 'sent' is committed by the sender before Meta's 'sent' webhook lands.
    config = SandboxConfig(ingress_url=pipe.ingress_url, app_secret=APP_SECRET, status_delay_s=0.3)
    with sandbox(config) as url:
        yield url


@pytest.fixture(scope="module")
def sender(settings: Settings, pipe: Pipeline, root_url: str) -> Iterator[None]:
    sender_settings = settings.model_copy(update={"graph_api_url": f"{root_url}/v21.0"})
    with running_sender(sender_settings, pipe.topology):
        yield


@pytest.fixture(scope="module")
async def db(settings: Settings) -> AsyncIterator[Db]:
    async with tenant_db(settings, "loop") as d:
        yield d


async def _inbound(db: Db, chat_ext: str) -> Any:
    async with db.registry.session(db.tenant_id) as session:
        return (
            await session.execute(select(ChatMessage).where(ChatMessage.external_message_id == chat_ext))
        ).scalar_one_or_none()


@pytest.mark.parametrize("channel", ["whatsapp", "facebook"])
async def test_customer_message_then_reply_goes_sent_delivered_read(
    channel: str, settings: Settings, pipe: Pipeline, root_url: str, sender: None, db: Db
) -> None:
    async with httpx.AsyncClient(timeout=10.0) as http:
        ctl = SandboxControl(http, root_url)
        account_id, token = await ctl.add_account(channel)
        await connect(db, channel, account_id, token)
        customer = "34600700000" if channel == "whatsapp" else str(secrets.randbelow(10**15))
        answer = await ctl.post(
            "/simulate/inbound",
            {"channel": channel, "account_id": account_id, "from": customer, "text": "Hola"},
        )
        assert answer["status_code"] == 200
        inbound = await await_until(lambda: _inbound(db, answer["message_id"]), what="inbound message stored")

        async with db.registry.session(db.tenant_id) as session:
            chat = await session.get(Chat, inbound.chat_id)
            assert chat is not None
            assert chat.last_inbound_at is not None  # the customer-service window is open
        mid = await queue_reply(db, inbound.chat_id, channel, "¡Hola! ¿Para cuántos?", reply_to=inbound.id)

        conn = await amqp_connect(settings.rabbitmq_url, name="loop-test")
        publisher = Publisher(conn)
        try:
            await publisher.start()
            await publish_reply(publisher, pipe.topology, db, mid, channel)
        finally:
            await publisher.close()
            await conn.close()

        seen: list[str] = []

        async def read() -> bool:
            status = (await message(db, mid)).status
            if not seen or seen[-1] != status:
                seen.append(status or "")
            return status == "read"

        await await_until(read, timeout=20, what="reply to be read")
        assert seen[0] in ("queued", "sending", "sent")
        row = await message(db, mid)
        assert row.external_message_id is not None
        assert row.status_at is not None
        [post] = [r for r in await ctl.requests(f"/{account_id}/messages") if r["method"] == "POST"]
        if channel == "whatsapp":
            assert post["json"]["context"] == {"message_id": answer["message_id"]}
        else:
            assert post["json"]["message"]["reply_to"] == {"mid": answer["message_id"]}
        webhooks = [w for w in await ctl.get("/webhooks") if row.external_message_id in str(w)]
        assert webhooks
        assert all(w.get("status_code") == 200 for w in webhooks)
