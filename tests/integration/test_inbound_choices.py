"""What the customer sent, whole: the ids/payloads of WhatsApp button and list replies, of Messenger
quick replies and postbacks, shared contact cards, and which template and button a template
quick-reply answers — written by the normalizer into PostgreSQL, read back through the inbox's API."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from inbox_support import SeededTenant, running_inbox, seed
from templates_support import login

from normalizer.handler import handle_routed_event
from normalizer.store import tenant_stores
from omni_common.channels import samples
from omni_common.channels.inbound import split_delivery
from omni_common.contracts import RoutedEvent
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.db.tenant_models import ChatMessage
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TEMPLATE_WAMID = f"wamid.tpl-{uuid.uuid4().hex}"


async def _ingest(settings: Settings, tenant: SeededTenant, channel: str, delivery: dict[str, Any]) -> None:
    """Through the normalizer's own handler, as its consumer would (real tenant database)."""
    engine = catalog_engine(settings.database_url)
    registry = TenantEngineRegistry(
        catalog=Catalog(engine), server_url=settings.database_url, connections_per_server=2
    )
    try:
        for item in split_delivery(channel, orjson.dumps(delivery)).items:
            event = RoutedEvent(
                event_id=f"t:{uuid.uuid4().hex}",
                delivery_id="t",
                tenant_id=tenant.id,
                channel=channel,
                account_id=item.account_id,
                received_at=datetime.now(UTC),
                payload=item.payload,
            )
            await handle_routed_event(event, begin=tenant_stores(registry.driver_transaction))
    finally:
        await registry.close()
        await engine.dispose()


async def _template_sent(settings: Settings, tenant: SeededTenant) -> None:
    """A template the business sent earlier (the customer's button reply answers it)."""
    engine = catalog_engine(settings.database_url)
    registry = TenantEngineRegistry(
        catalog=Catalog(engine), server_url=settings.database_url, connections_per_server=2
    )
    try:
        async with registry.begin(tenant.id) as session:
            session.add(
                ChatMessage(
                    tenant_id=tenant.id,
                    chat_id=tenant.chats["whatsapp"],
                    channel="whatsapp",
                    external_message_id=TEMPLATE_WAMID,
                    direction="outbound",
                    kind="template",
                    text="Hi Olga, your table for 4 is confirmed.",
                    status="read",
                    template={
                        "name": "booking_confirmation",
                        "language": "en_US",
                        "parameters": {"body": ["Olga", "4"]},
                        "buttons": [
                            {"type": "QUICK_REPLY", "text": "See you there"},
                            {"type": "QUICK_REPLY", "text": "Cancel booking"},
                        ],
                    },
                )
            )
    finally:
        await registry.close()
        await engine.dispose()


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    seeded = seed(settings, f"choice-{uuid.uuid4().hex[:6]}")
    asyncio.run(_template_sent(settings, seeded))
    wa = {
        "phone_number_id": seeded.account_ids["whatsapp"],
        "waba_id": seeded.wabas["whatsapp"],
        "wa_id": seeded.contacts["whatsapp"],
        "name": "Olga",
    }
    now = int(time.time())
    deliveries: list[tuple[str, dict[str, Any]]] = [
        (
            "whatsapp",
            samples.whatsapp_message(
                **wa,
                message_id="wamid.btn-1",
                timestamp=now,
                kind="button",
                content={"payload": "Cancel booking", "text": "Cancel booking"},
                context_id=TEMPLATE_WAMID,
            ),
        ),
        (
            "whatsapp",
            samples.whatsapp_message(
                **wa,
                message_id="wamid.ib-1",
                timestamp=now + 1,
                kind="interactive",
                content={"type": "button_reply", "button_reply": {"id": "slot-2100", "title": "21:00"}},
            ),
        ),
        (
            "whatsapp",
            samples.whatsapp_message(
                **wa,
                message_id="wamid.il-1",
                timestamp=now + 2,
                kind="interactive",
                content={
                    "type": "list_reply",
                    "list_reply": {"id": "menu-vegan", "title": "Vegan menu", "description": "Five courses"},
                },
            ),
        ),
        (
            "whatsapp",
            samples.whatsapp_message(
                **wa,
                message_id="wamid.vc-1",
                timestamp=now + 3,
                kind="contacts",
                content=[
                    {
                        "name": {"formatted_name": "Marta Ruiz", "first_name": "Marta"},
                        "phones": [{"phone": "+34 600 111 222", "wa_id": "34600111222", "type": "CELL"}],
                        "emails": [{"email": "marta@example.com", "type": "WORK"}],
                        "org": {"company": "Ruiz SL"},
                    }
                ],
            ),
        ),
    ]
    fb, psid = seeded.account_ids["facebook"], seeded.contacts["facebook"]
    deliveries += [
        (
            "facebook",
            samples.messaging_delivery(
                "facebook",
                fb,
                {
                    "sender": {"id": psid},
                    "recipient": {"id": fb},
                    "timestamp": now * 1000,
                    "message": {
                        "mid": "m_qr-1",
                        "text": "Terrace",
                        "quick_reply": {"payload": "SEAT_TERRACE"},
                    },
                },
                time_ms=now * 1000,
            ),
        ),
        (
            "facebook",
            samples.messaging_delivery(
                "facebook",
                fb,
                {
                    "sender": {"id": psid},
                    "recipient": {"id": fb},
                    "timestamp": now * 1000 + 5,
                    "postback": {"mid": "m_pb-1", "title": "Book a table", "payload": "BOOK_TABLE"},
                },
                time_ms=now * 1000 + 5,
            ),
        ),
    ]
    for channel, delivery in deliveries:
        asyncio.run(_ingest(settings, seeded, channel, delivery))
    return seeded


@pytest.fixture(scope="module")
def http(settings: Settings, tenant: SeededTenant) -> Iterator[httpx.Client]:
    with running_inbox(settings, declare=True) as url, httpx.Client(base_url=url, timeout=30) as client:
        client.headers.update(login(client, tenant))
        yield client


def history(http: httpx.Client, tenant: SeededTenant, channel: str) -> dict[str, dict[str, Any]]:
    shown = http.get(
        f"/api/conversations/{tenant.chats[channel]}/messages", params={"mark_read": False}
    ).json()
    return {m["external_message_id"]: m for m in shown}


def test_a_template_button_answer_says_which_template_and_button(
    http: httpx.Client, tenant: SeededTenant
) -> None:
    m = history(http, tenant, "whatsapp")["wamid.btn-1"]
    assert m["kind"] == "button"
    assert m["payload"] == "Cancel booking"
    assert m["choice"]["template"] == {
        "name": "booking_confirmation",
        "language": "en_US",
        "button": "Cancel booking",
        "button_index": 1,
    }
    assert m["reply_to"]["kind"] == "template"


def test_button_and_list_replies_keep_their_ids(http: httpx.Client, tenant: SeededTenant) -> None:
    shown = history(http, tenant, "whatsapp")
    button, row = shown["wamid.ib-1"], shown["wamid.il-1"]
    assert (button["payload"], button["choice"]["type"], button["choice"]["title"]) == (
        "slot-2100",
        "button_reply",
        "21:00",
    )
    assert (row["payload"], row["choice"]["description"]) == ("menu-vegan", "Five courses")


def test_shared_contact_cards_show_names_and_phones(http: httpx.Client, tenant: SeededTenant) -> None:
    card = history(http, tenant, "whatsapp")["wamid.vc-1"]["shared_contacts"]
    assert card == [
        {
            "name": "Marta Ruiz",
            "phones": [{"phone": "+34 600 111 222", "wa_id": "34600111222", "type": "CELL"}],
            "emails": ["marta@example.com"],
            "organization": "Ruiz SL",
        }
    ]


def test_messenger_quick_replies_and_postbacks_keep_their_payloads(
    http: httpx.Client, tenant: SeededTenant
) -> None:
    shown = history(http, tenant, "facebook")
    assert (shown["m_qr-1"]["payload"], shown["m_qr-1"]["choice"]["type"]) == ("SEAT_TERRACE", "quick_reply")
    assert (shown["m_pb-1"]["payload"], shown["m_pb-1"]["choice"]["title"]) == ("BOOK_TABLE", "Book a table")


def test_plain_messages_carry_no_payload(http: httpx.Client, tenant: SeededTenant) -> None:
    plain = next(m for m in history(http, tenant, "whatsapp").values() if m["kind"] == "text")
    assert (plain["payload"], plain["choice"], plain["shared_contacts"]) == (None, None, [])


def test_the_page_shows_them(http: httpx.Client, tenant: SeededTenant) -> None:
    page = http.get(f"/ui/conversations/{tenant.chats['whatsapp']}/messages").text
    assert "Answered the template “booking confirmation” with its button “Cancel booking”" in page
    assert "menu-vegan" in page
    assert "Marta Ruiz" in page
