"""Two inbox replicas behind a balancer (issue 22), real Chromium: a browser following a conversation
keeps receiving live events when its replica is stopped mid-session, and misses none — the session
is the tenant database's, the live events' ids the broker's, so the other replica takes over."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from lb_proxy import balancer
from playwright.sync_api import expect

from omni_common.broker.connection import connect
from omni_common.broker.publisher import Publisher
from omni_common.broker.topology import NOTIFICATIONS_EXCHANGE
from omni_common.contracts import NotificationEvent, encode
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT_MS = 20_000


def _port(url: str) -> int:
    port = urlparse(url).port
    assert port is not None
    return port


def customer_writes(settings: Settings, tenant: SeededTenant, text: str) -> None:
    """A customer's message lands (as the normalizer would store it), then its live event is published."""
    chat = tenant.chats["whatsapp"]
    with psycopg.connect(
        libpq_conninfo(settings.database_url, database=tenant.db_name), autocommit=True
    ) as c:
        row = c.execute(
            "INSERT INTO chat_messages (tenant_id, chat_id, channel, external_message_id, direction, kind,"
            " text, status, platform_timestamp)"
            " VALUES (%s, %s, 'whatsapp', %s, 'inbound', 'text', %s, 'received', now()) RETURNING id",
            (tenant.id, chat, f"wamid.{uuid.uuid4().hex}", text),
        ).fetchone()
        assert row is not None
        c.execute("UPDATE chats SET last_message_at = now() WHERE id = %s", (chat,))

    async def publish() -> None:
        conn = await connect(settings.rabbitmq_url, name="test-two-replicas")
        publisher = Publisher(conn)
        try:
            event = NotificationEvent(
                tenant_id=tenant.id,
                kind="message.created",
                chat_id=chat,
                message_id=row[0],
                occurred_at=datetime.now(UTC),
            )
            await publisher.publish(
                "",
                encode(event),
                message_id=f"test:{uuid.uuid4()}",
                exchange=NOTIFICATIONS_EXCHANGE,
                mandatory=False,
            )
        finally:
            await publisher.close()
            await conn.close()

    # Playwright's sync API runs an event loop in this thread: publish from another one.
    worker = threading.Thread(target=asyncio.run, args=(publish(),))
    worker.start()
    worker.join(30)


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"two-{uuid.uuid4().hex[:6]}")


def test_the_other_replica_takes_over_the_live_stream(
    settings: Settings, tenant: SeededTenant, browser: Any
) -> None:
    first = contextlib.ExitStack()
    with running_inbox(settings, declare=True) as second_url:
        one_url = first.enter_context(running_inbox(settings))
        with balancer([("127.0.0.1", _port(one_url)), ("127.0.0.1", _port(second_url))]) as url:
            context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 800})
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            try:
                page.goto("/login")
                page.get_by_label("Restaurant").fill(tenant.slug)
                page.get_by_label("Email").fill(tenant.users["manager"])
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url("**/inbox")
                page.goto(f"/inbox?c={tenant.chats['whatsapp']}")
                page.locator("body[data-events='ready']").wait_for()
                page.evaluate(
                    "window.__kinds = []; document.addEventListener('omni:live',"
                    " function (e) { window.__kinds.push(e.detail.kind); });"
                )
                messages = page.locator("#messages")
                customer_writes(settings, tenant, "Table for two at eight?")
                expect(messages).to_contain_text("Table for two at eight?")

                first.close()  # the replica serving this browser stops mid-session
                customer_writes(settings, tenant, "Actually make it three")  # while the browser reconnects
                expect(messages).to_contain_text("Actually make it three")
                page.locator("body[data-events='ready']").wait_for()
                customer_writes(settings, tenant, "See you later")
                expect(messages).to_contain_text("See you later")
                kinds = page.evaluate("window.__kinds")
                # Caught up by id on the other replica, not a "refetch everything" resync.
                assert "resync" not in kinds
                assert kinds.count("message.created") >= 3
                assert errors == []
            finally:
                context.close()
                first.close()


def test_the_balancer_spreads_nothing_to_a_dead_replica() -> None:
    # The balancer itself: a backend that refuses is skipped.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    with running_inbox_free() as alive, balancer([("127.0.0.1", dead), ("127.0.0.1", alive)]) as url:
        import httpx

        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200


@contextlib.contextmanager
def running_inbox_free() -> Any:
    """A trivial HTTP server standing in for a replica (the balancer test needs no inbox)."""
    from fastapi import FastAPI
    from sandbox_server import serve

    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    with serve(app) as url:
        yield _port(url)
