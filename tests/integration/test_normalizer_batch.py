"""The normalizer's per-tenant batch: one transaction, per-event outcomes, the same guarantees."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pipeline import provision, unique_digits

from normalizer.accounts import AccountCache
from normalizer.handler import handle_routed_batch
from normalizer.store import tenant_stores
from omni_common.broker.outcomes import DeadLetter
from omni_common.channels.inbound import split_delivery
from omni_common.contracts import RoutedEvent
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.settings import Settings

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures" / "meta"


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> tuple[uuid.UUID, str, str]:
    waba = unique_digits()
    record = asyncio.run(provision(settings, f"batch{waba[-6:]}", {"whatsapp": waba}))
    return record.id, record.db_name, waba


def _events(tenant_id: uuid.UUID, waba: str, deliveries: list[dict[str, Any]]) -> list[RoutedEvent]:
    events = []
    for n, delivery in enumerate(deliveries):
        delivery["entry"][0]["id"] = waba
        for change in delivery["entry"][0]["changes"]:
            change["value"]["metadata"]["phone_number_id"] = waba
        split = split_delivery("whatsapp", json.dumps(delivery).encode())
        for item in split.items:
            events.append(
                RoutedEvent(
                    event_id=f"d{n}:{item.index}",
                    delivery_id=f"d{n}",
                    tenant_id=tenant_id,
                    channel="whatsapp",
                    account_id=item.account_id,
                    received_at=datetime.now(UTC),
                    payload=item.payload,
                )
            )
    return events


def _text(wamid: str) -> dict[str, Any]:
    delivery = json.loads((FIXTURES / "whatsapp" / "text.json").read_bytes())
    delivery["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = wamid
    return delivery


def _status(wamid: str, status: str) -> dict[str, Any]:
    delivery = copy.deepcopy(json.loads((FIXTURES / "whatsapp" / "status_read.json").read_bytes()))
    delivery["entry"][0]["changes"][0]["value"]["statuses"][0].update({"id": wamid, "status": status})
    return delivery


async def _run(
    settings: Settings, tenant_id: uuid.UUID, events: list[RoutedEvent], accounts: AccountCache | None = None
) -> list[Any]:
    engine = catalog_engine(settings.database_url)
    registry = TenantEngineRegistry(
        catalog=Catalog(engine), server_url=settings.database_url, connections_per_server=4
    )
    try:
        return await handle_routed_batch(
            tenant_id, events, connect=tenant_stores(registry.driver_connection), accounts=accounts
        )
    finally:
        await registry.close()
        await engine.dispose()


def _rows(settings: Settings, db: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    url = settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url.rsplit("/", 1)[0] + f"/{db}") as conn:
        return conn.execute(sql, params).fetchall()


def test_a_batch_commits_good_events_and_dead_letters_only_the_bad_one(
    settings: Settings, tenant: tuple[uuid.UUID, str, str]
) -> None:
    tenant_id, db, waba = tenant
    sent, new = f"wamid.out-{unique_digits()}", f"wamid.in-{unique_digits()}"
    events = _events(tenant_id, waba, [_text(new)])
    chat = _rows(settings, db, "SELECT chat_id FROM chat_messages WHERE external_message_id = %s", (new,))
    assert not chat
    # An outbound message to update, through the first event's chat (created by the same batch later).
    batch = [
        *events,
        *_events(tenant_id, waba, [_status(sent, "delivered"), _status(sent, "read"), _status(sent, "sent")]),
    ]
    # An account this tenant does not have (the router would not send it, but a stale route could).
    (bad,) = _events(tenant_id, unique_digits(), [_text(f"wamid.stray-{unique_digits()}")])
    batch.insert(1, bad)
    asyncio.run(_run(settings, tenant_id, batch[:2]))  # creates the chat; the bad one dead-letters
    (chat_id,) = _rows(
        settings, db, "SELECT chat_id FROM chat_messages WHERE external_message_id = %s", (new,)
    )[0]
    _rows(
        settings,
        db,
        "INSERT INTO chat_messages"
        " (tenant_id, chat_id, channel, external_message_id, direction, kind, status)"
        " VALUES (%s, %s, 'whatsapp', %s, 'outbound', 'text', 'sent') RETURNING id",
        (tenant_id, chat_id, sent),
    )

    outcomes = asyncio.run(_run(settings, tenant_id, batch))

    assert isinstance(outcomes[1], DeadLetter)
    assert outcomes[1].reason == "account_not_in_tenant"
    assert outcomes[0] == []  # a redelivery: already there, nothing new to report
    # delivered, then read (a repeat of the same message in one batch is applied in order), then
    # sent changes nothing: statuses only move forward.
    assert [c[0].data["status"] if c else None for c in outcomes[2:]] == ["delivered", "read", None]
    status = _rows(settings, db, "SELECT status FROM chat_messages WHERE external_message_id = %s", (sent,))
    assert status == [("read",)]
    assert len(_rows(settings, db, "SELECT 1 FROM chat_messages WHERE external_message_id = %s", (new,))) == 1


def test_a_batch_refuses_events_of_another_tenant(
    settings: Settings, tenant: tuple[uuid.UUID, str, str]
) -> None:
    tenant_id, _, waba = tenant
    events = _events(tenant_id, waba, [_text(f"wamid.x-{unique_digits()}")])
    other = events[0].model_copy(update={"tenant_id": uuid.uuid4()})
    with pytest.raises(ValueError, match="one tenant"):
        asyncio.run(_run(settings, tenant_id, [events[0], other]))


def test_a_failing_batch_falls_back_to_one_by_one(
    settings: Settings, tenant: tuple[uuid.UUID, str, str]
) -> None:
    tenant_id, db, waba = tenant
    good = f"wamid.good-{unique_digits()}"
    events = _events(tenant_id, waba, [_text(good)])
    # PostgreSQL refuses a NUL character in text and jsonb, so this event fails inside the shared
    # transaction (a database error, not a bad contract).
    poisoned = _text(f"wamid.nul-{unique_digits()}")
    poisoned["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "nul\x00here"
    events += _events(tenant_id, waba, [poisoned])

    outcomes = asyncio.run(_run(settings, tenant_id, events))

    assert outcomes[0]
    assert outcomes[0][0].kind == "message.created"
    assert isinstance(outcomes[1], Exception)
    assert not isinstance(outcomes[1], DeadLetter)  # a database error: retried through the delay queues
    assert (
        len(_rows(settings, db, "SELECT 1 FROM chat_messages WHERE external_message_id = %s", (good,))) == 1
    )


def _wa(
    fixture: str, wamid: str, wa_id: str, ts: int, *, name: str | None = None, to: str | None = None
) -> dict[str, Any]:
    delivery = json.loads((FIXTURES / "whatsapp" / f"{fixture}.json").read_bytes())
    value = delivery["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = wa_id
    if name is None:
        value["contacts"][0].pop("profile")
    else:
        value["contacts"][0]["profile"]["name"] = name
    message = value["messages"][0]
    message.update({"id": wamid, "from": wa_id, "timestamp": str(ts)})
    if "context" in message:
        message["context"]["id"] = to
    if "reaction" in message:
        message["reaction"]["message_id"] = to
    return delivery


def _state(settings: Settings, db: str) -> dict[str, Any]:
    """What the inbox shows, without the ids and times a database assigns."""
    return {
        "contacts": sorted(_rows(settings, db, "SELECT external_id, display_name, handle FROM contacts", ())),
        "chats": sorted(
            _rows(
                settings,
                db,
                "SELECT k.external_id, c.unread_count, c.last_message_preview, c.last_message_at,"
                " c.last_inbound_at, c.state FROM chats c JOIN contacts k ON k.id = c.contact_id",
                (),
            )
        ),
        "messages": sorted(
            _rows(
                settings,
                db,
                "SELECT m.external_message_id, k.external_id, m.direction, m.kind, m.text, m.status,"
                " m.reply_to_external_id, t.external_message_id, m.reaction_emoji, m.media->>'state'"
                " FROM chat_messages m JOIN chats c ON c.id = m.chat_id"
                " JOIN contacts k ON k.id = c.contact_id"
                " LEFT JOIN chat_messages t ON t.id = m.reply_to_message_id",
                (),
            ),
            key=str,
        ),
    }


def test_a_batch_writes_what_one_by_one_writes(settings: Settings) -> None:
    """New messages are written together; the result equals handling each event on its own."""
    ana, ben = "4915100000001", "4915100000002"
    deliveries = [
        _wa("text", "wamid.eq-1", ana, 1_749_416_100, name=None),
        _wa("image", "wamid.eq-2", ana, 1_749_416_090, name="Ana"),  # older: keeps the preview
        _wa("text", "wamid.eq-3", ben, 1_749_416_110, name="Ben"),
        _wa("text", "wamid.eq-1", ana, 1_749_416_100, name=None),  # a repeat inside the batch
        _wa("text_reply", "wamid.eq-4", ana, 1_749_416_120, name="Ana", to="wamid.eq-3"),
        _wa("reaction", "wamid.eq-5", ben, 1_749_416_130, name="Ben", to="wamid.eq-1"),
        _wa("text", "wamid.eq-6", ben, 1_749_416_105, name="Ben"),  # stored before the batch
        _wa("text", "wamid.eq-7", ben, 1_749_416_110, name="Ben"),  # same time as eq-3: later wins
    ]
    states, kinds = [], []
    for batched in (True, False):
        waba = unique_digits()
        record = asyncio.run(provision(settings, f"eq{waba[-6:]}", {"whatsapp": waba}))
        events = _events(record.id, waba, copy.deepcopy(deliveries))
        # The batched side runs as the normalizer does: its account then comes from the cache.
        cache = AccountCache() if batched else None
        asyncio.run(_run(settings, record.id, [events[6]], cache))
        if batched:
            outcomes = asyncio.run(_run(settings, record.id, events, cache))
        else:
            outcomes = [asyncio.run(_run(settings, record.id, [e]))[0] for e in events]
        kinds.append([sorted(c.kind for c in o) if isinstance(o, list) else repr(o) for o in outcomes])
        states.append(_state(settings, record.db_name))

    assert states[0] == states[1]
    assert kinds[0] == kinds[1]
    messages = {m[0]: m for m in states[0]["messages"]}
    assert messages["wamid.eq-4"][7] == "wamid.eq-3"  # the reply found its target of the same batch
    assert messages["wamid.eq-2"][9] == "pending"
    chats = {c[0]: c for c in states[0]["chats"]}
    assert chats[ana][1] == 3  # eq-1 once, eq-2, eq-4
    assert chats[ben][1] == 3  # eq-3, eq-6, eq-7 (a reaction is not unread)


def test_a_batch_of_statuses_on_recent_accounts_is_one_statement(
    settings: Settings, tenant: tuple[uuid.UUID, str, str]
) -> None:
    """No BEGIN/COMMIT round trips for the commonest batch under load."""
    tenant_id, db, waba = tenant
    new = f"wamid.in-{unique_digits()}"
    asyncio.run(_run(settings, tenant_id, _events(tenant_id, waba, [_text(new)])))
    (chat_id,) = _rows(
        settings, db, "SELECT chat_id FROM chat_messages WHERE external_message_id = %s", (new,)
    )[0]
    out = [f"wamid.out-{unique_digits()}" for _ in range(3)]
    for wamid in out:
        _rows(
            settings,
            db,
            "INSERT INTO chat_messages (tenant_id, chat_id, channel, external_message_id, direction, kind,"
            " status) VALUES (%s, %s, 'whatsapp', %s, 'outbound', 'text', 'sent') RETURNING id",
            (tenant_id, chat_id, wamid),
        )
    _rows(settings, db, "UPDATE social_accounts SET last_webhook_at = NULL RETURNING id", ())
    cache = AccountCache()
    statements: list[str] = []

    async def run(deliveries: list[dict[str, Any]]) -> list[Any]:
        engine = catalog_engine(settings.database_url)
        registry = TenantEngineRegistry(
            catalog=Catalog(engine), server_url=settings.database_url, connections_per_server=4
        )

        @asynccontextmanager
        async def connect(tid: uuid.UUID) -> AsyncIterator[Any]:
            async with registry.driver_connection(tid) as conn:
                statements.clear()
                yield _Recording(conn, statements)

        try:
            return await handle_routed_batch(
                tenant_id,
                _events(tenant_id, waba, deliveries),
                connect=tenant_stores(connect),
                accounts=cache,
            )
        finally:
            await registry.close()
            await engine.dispose()

    # First batch: the account is read and its webhook time recorded, inside a transaction.
    first = asyncio.run(run([_status(out[0], "delivered")]))
    assert [c.data["status"] for c in first[0]] == ["delivered"]
    assert statements == [
        "SELECT a.platform,",
        "transaction",
        "UPDATE chat_messages",
        "UPDATE social_accounts",
    ]
    # Then: the cached account was recorded within the minute, so two statuses are one UPDATE.
    second = asyncio.run(run([_status(out[1], "delivered"), _status(out[2], "read")]))
    assert [[c.data["status"] for c in o] for o in second] == [["delivered"], ["read"]]
    assert statements == ["UPDATE chat_messages"]
    assert _rows(
        settings,
        db,
        "SELECT status FROM chat_messages WHERE external_message_id = ANY(%s) ORDER BY 1",
        (out,),
    ) == [("delivered",), ("delivered",), ("read",)]


class _Recording:
    """A tenant connection that notes the first words of each statement and transaction it runs."""

    def __init__(self, conn: Any, statements: list[str]) -> None:
        self._conn, self._statements = conn, statements

    async def execute(self, query: str, params: Any = None, **kwargs: Any) -> Any:
        self._statements.append(" ".join(query.split()[:2]))
        return await self._conn.execute(query, params, **kwargs)

    def transaction(self) -> Any:
        self._statements.append("transaction")
        return self._conn.transaction()
