"""Shared set-up of the AI tests: a suggester worker in a thread, an inbox with a short RPC timeout."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx
import psycopg
from inbox_support import CHEAP_HASHER, PASSWORD, SeededTenant
from pydantic import SecretStr
from sandbox_server import serve

from ai_suggester.context import Budget
from ai_suggester.main import build_handlers, model_from_settings
from inbox_api.app import create_app
from inbox_api.main import open_deps
from omni_common.broker.topology import build_topology
from omni_common.contracts import decode, encode
from omni_common.contracts.assistant import Action, SuggestionReply, SuggestReply
from omni_common.contracts.routing import AI_REQUESTS, routing_key
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings
from omni_common.worker import run_worker

DOC: dict[str, Any] = {
    "enabled": True,
    "profile": {
        "name": "Trattoria Sole",
        "address": "Via Roma 1, Berlin",
        "phone": "+49 30 123456",
        "opening_hours": "Tue-Sun 12:00-22:30, closed Mondays",
        "policies": "Reservations by phone; takeaway until 21:30.",
    },
    "menu": [
        {"name": "Margherita", "price": "9.50", "allergens": ["gluten", "milk"], "tags": ["vegetarian"]},
        {"name": "Vegan Lasagne", "price": "13.00", "allergens": ["gluten"], "tags": ["vegan"]},
    ],
    "faq": [
        {"question": "Do you have parking nearby?", "answer": "Yes, free parking behind the restaurant."}
    ],
    "tone": {"description": "warm and casual", "examples": ["Ciao! Thanks for writing."]},
}


@contextmanager
def fake_model(settings: Settings, fake: Any) -> Iterator[Settings]:
    """``settings`` pointed at ``fake`` (a FakeOpenAI) served on a real socket, for as long as this lasts."""
    with serve(fake.app()) as url:
        yield settings.model_copy(
            update={
                "openai_base_url": f"{url}/v1",
                "openai_api_key": SecretStr("sk-test"),
                "openai_model": "fake-model",
            }
        )


@contextmanager
def running_suggester(
    settings: Settings, *, budget: Budget, model_timeout_s: float = 15.0, health_port: int | None = None
) -> Iterator[None]:
    """The ai-suggester worker (it declares the topology: the module's one declaration).

    With ``health_port`` it serves ``/healthz``, ``/readyz`` and ``/metrics`` there, as in production.
    """
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop, started = asyncio.Event(), asyncio.Event()
        box["loop"], box["stop"] = asyncio.get_running_loop(), stop
        topology = build_topology(
            retry_delays_ms=settings.retry_delays_ms, delivery_limit=settings.delivery_limit
        )
        model = model_from_settings(settings, timeout_s=model_timeout_s, max_retries=1)
        task = asyncio.create_task(
            run_worker(
                service="ai-suggester-test",
                rabbitmq_url=settings.rabbitmq_url,
                topology=topology,
                prefetch=8,
                build_handlers=build_handlers(settings, model=model, budget=budget),
                stop=stop,
                started=started,
                health_port=health_port,
            )
        )
        await asyncio.wait([task, asyncio.create_task(started.wait())], return_when="FIRST_COMPLETED")
        ready.set()
        await task

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("suggester did not start")
    try:
        yield
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(30)


@contextmanager
def running_ai_inbox(settings: Settings, *, suggest_timeout_s: float = 5.0) -> Iterator[str]:
    """The inbox app (no topology declaration of its own) with a short suggestion timeout."""
    app = create_app(
        lambda: open_deps(
            settings,
            declare=False,
            hasher=CHEAP_HASHER,
            suggest_timeout_s=suggest_timeout_s,
        )
    )
    with serve(app) as url:
        yield url


def bearer(http: httpx.Client, tenant: SeededTenant, role: str = "business_owner") -> dict[str, str]:
    response = http.post(
        "/api/auth/login", json={"tenant": tenant.slug, "email": tenant.users[role], "password": PASSWORD}
    )
    response.raise_for_status()
    http.cookies.clear()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def sql(
    settings: Settings, tenant: SeededTenant, statement: str, params: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    with psycopg.connect(
        libpq_conninfo(settings.database_url, database=tenant.db_name), autocommit=True
    ) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def customer_says(settings: Settings, tenant: SeededTenant, channel: str, text: str) -> None:
    """An inbound text message in the tenant's chat of ``channel``, newest of the conversation."""
    sql(
        settings,
        tenant,
        "INSERT INTO chat_messages (tenant_id, chat_id, channel, external_message_id, direction, kind, text,"
        " status, platform_timestamp) VALUES (%s, %s, %s, %s, 'inbound', 'text', %s, 'received', %s)",
        (tenant.id, tenant.chats[channel], channel, f"ext-{uuid.uuid4().hex}", text, datetime.now(UTC)),
    )


def sent_count(settings: Settings, tenant: SeededTenant) -> tuple[int, int]:
    """(outbound messages, outbox rows) of the tenant: what would leave the building."""
    out = sql(settings, tenant, "SELECT count(*) FROM chat_messages WHERE direction = 'outbound'")[0][0]
    box = sql(settings, tenant, "SELECT count(*) FROM outbox")[0][0]
    return int(out), int(box)


def owner_id(settings: Settings, tenant: SeededTenant) -> uuid.UUID:
    row = sql(settings, tenant, "SELECT id FROM users WHERE email = %s", (tenant.users["business_owner"],))
    return uuid.UUID(str(row[0][0]))


def rpc(
    settings: Settings,
    tenant: SeededTenant,
    *,
    action: Action = "suggest",
    draft: str | None = None,
    channel: str = "whatsapp",
    timeout_s: float = 5.0,
) -> SuggestionReply | None:
    """Ask the running suggester over RabbitMQ as the inbox does (direct reply-to); None on timeout."""
    request = SuggestReply(
        request_id=uuid.uuid4(),
        tenant_id=tenant.id,
        chat_id=tenant.chats[channel],
        user_id=owner_id(settings, tenant),
        channel=channel,
        deadline=datetime.now(UTC) + timedelta(seconds=timeout_s),
        action=action,
        draft=draft,
    )

    async def run() -> SuggestionReply | None:
        connection = await aio_pika.connect(settings.rabbitmq_url)
        try:
            channel_ = await connection.channel(publisher_confirms=False)
            answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

            async def on_reply(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                if not answer.done():
                    answer.set_result(message.body)

            replies = await channel_.get_queue("amq.rabbitmq.reply-to", ensure=False)
            await replies.consume(on_reply, no_ack=True)
            topology = build_topology(
                retry_delays_ms=settings.retry_delays_ms, delivery_limit=settings.delivery_limit
            )
            exchange = await channel_.get_exchange(topology.events_exchange, ensure=False)
            key = str(request.request_id)
            await exchange.publish(
                aio_pika.Message(
                    encode(request), message_id=key, correlation_id=key, reply_to="amq.rabbitmq.reply-to"
                ),
                routing_key=routing_key(AI_REQUESTS, request.channel),
            )
            try:
                return decode(SuggestionReply, await asyncio.wait_for(answer, timeout_s + 1))
            except TimeoutError:
                return None
        finally:
            await connection.close()

    return asyncio.run(run())
