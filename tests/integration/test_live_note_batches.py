"""A flood of statuses through the real ingress, router and normalizer (issue 24 step 3): the live
inboxes hear every status once, under its own key, in fewer messages than statuses (one per tenant
batch). Prints the count: the A/B figure in docs/performance.md."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from pipeline import Pipeline, body_of, provision, running_pipeline, sign, unique_digits, wait_until
from testenv import APP_SECRET

from omni_common.broker.connection import connect
from omni_common.channels import samples
from omni_common.contracts import notifications_in
from omni_common.settings import Settings

pytestmark = pytest.mark.integration

STATUSES = 1_000
TEMPLATE = json.loads((Path(__file__).parent.parent / "fixtures/meta/whatsapp/status_read.json").read_bytes())


ACCOUNT = unique_digits()


@pytest.fixture(scope="module")
def pipe(settings: Settings) -> Iterator[tuple[Pipeline, Any]]:
    tenant = asyncio.run(provision(settings, f"notes-{ACCOUNT[:6]}", {"whatsapp": ACCOUNT}))
    with running_pipeline(settings) as p:
        yield p, tenant


def _post(client: httpx.Client, delivery: dict[str, Any]) -> int:
    body = body_of(delivery)
    headers = {"X-Hub-Signature-256": sign(body, APP_SECRET), "Content-Type": "application/json"}
    return client.post("/webhooks/whatsapp", content=body, headers=headers).status_code


def test_every_status_is_heard_once_in_fewer_messages(pipe: tuple[Pipeline, Any]) -> None:
    p, tenant = pipe
    hello = samples.whatsapp_text(
        phone_number_id=ACCOUNT,
        waba_id=TEMPLATE["entry"][0]["id"],
        wa_id="4915112345678",
        name="Ana",
        text="hola",
        message_id=f"wamid.in-{unique_digits()}",
        timestamp=int(time.time()),
    )
    with httpx.Client(base_url=p.ingress_url, timeout=30) as client:
        assert _post(client, hello) == 200
    [chat] = wait_until(lambda: p.query(tenant.db_name, "SELECT id FROM chats"), what="the chat")
    prefix = f"wamid.notes-{unique_digits()}-"
    p.query(
        tenant.db_name,
        "INSERT INTO chat_messages (tenant_id, chat_id, channel, external_message_id, direction, kind,"
        " text, status) SELECT %s, %s, 'whatsapp', %s || n, 'outbound', 'text', 'ok', 'sent'"
        " FROM generate_series(1, %s) n RETURNING id",
        (tenant.id, chat["id"], prefix, STATUSES),
    )
    ids = {r["id"] for r in p.messages(tenant.db_name, "external_message_id LIKE %s", (prefix + "%",))}

    def post(client: httpx.Client, n: int) -> int:
        delivery = copy.deepcopy(TEMPLATE)
        value = delivery["entry"][0]["changes"][0]["value"]
        value["metadata"]["phone_number_id"] = ACCOUNT
        value["statuses"][0].update({"id": f"{prefix}{n}", "status": "delivered"})
        return _post(client, delivery)

    async def listen() -> tuple[int, list[str], list[Any]]:
        conn = await connect(p.settings.rabbitmq_url, name="test-note-batches")
        messages, keys, heard = 0, [], []
        try:
            channel = await conn.channel()
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(p.topology.notifications_exchange)

            def flood() -> list[int]:
                with (
                    httpx.Client(base_url=p.ingress_url, timeout=30) as client,
                    ThreadPoolExecutor(8) as pool,
                ):
                    return list(pool.map(lambda n: post(client, n), range(1, STATUSES + 1)))

            started = time.monotonic()
            codes = await asyncio.to_thread(flood)
            assert set(codes) == {200}
            async with queue.iterator() as stream:
                while len({m for m in heard if m in ids}) < STATUSES:
                    assert time.monotonic() - started < 120, f"heard {len(heard)} of {STATUSES}"
                    message = await asyncio.wait_for(stream.__anext__(), 30)
                    await message.ack()
                    notes = notifications_in(message.body, message.message_id)
                    mine = [(k, e) for k, e in notes if e.message_id in ids]
                    if mine:
                        messages += 1
                        keys += [k for k, _ in mine]
                        heard += [e.message_id for _, e in mine]
        finally:
            await conn.close()
        return messages, keys, heard

    messages, keys, heard = asyncio.run(listen())
    assert sorted(map(str, heard)) == sorted(map(str, ids))  # every status once
    assert len(set(keys)) == STATUSES  # each under its own key
    print(f"\nnotification messages for {STATUSES} statuses: {messages}")
    assert messages < STATUSES
    wait_until(
        lambda: (
            len(
                p.messages(
                    tenant.db_name, "external_message_id LIKE %s AND status = 'delivered'", (prefix + "%",)
                )
            )
            == STATUSES
        ),
        what="statuses applied",
    )
