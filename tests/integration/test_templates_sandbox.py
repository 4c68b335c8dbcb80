"""WhatsApp templates over real sockets: sync (every page), status webhooks through the pipeline,
sending after the 24-hour window, refusals naming the field, Meta's own template refusals, and
writing first (``POST /api/conversations``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from inbox_support import SeededTenant, seed
from pipeline import wait_until
from templates_support import Stack, full_stack

from omni_common.crypto import KeyRing
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.graph import GraphClient
from omni_common.settings import Settings
from omni_common.wa_templates.sync import sync_account

pytestmark = pytest.mark.integration

BOOKING = {
    "name": "booking_confirmation",
    "language": "en_US",
    "parameters": {"header": ["Olga"], "body": ["Olga", "4", "Friday", "21:00"]},
}


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"tpl-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def stack(
    settings: Settings, tenant: SeededTenant, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with full_stack(settings, tenant, tmp_path_factory.mktemp("media")) as s:
        yield s


def templates(stack: Stack, **params: str) -> list[dict[str, Any]]:
    response = stack.http.get(
        "/api/templates", params={"account_id": str(stack.tenant.accounts["whatsapp"]), **params}
    )
    assert response.status_code == 200, response.text
    return list(response.json())


def synced(stack: Stack) -> list[dict[str, Any]]:
    assert stack.http.post("/api/templates/sync", json={}).status_code == 202
    return wait_until(lambda: len(templates(stack)) >= 8 and templates(stack), what="the templates synced")


def test_a_refresh_syncs_every_template_with_its_status_and_reason(stack: Stack) -> None:
    found = {t["name"]: t for t in synced(stack)}
    assert found["booking_confirmation"]["status"] == "APPROVED"
    assert found["booking_confirmation"]["fields"]["body"] == ["1", "2", "3", "4"]
    assert found["booking_reminder"]["parameter_format"] == "NAMED"
    assert found["summer_promo"]["status"] == "REJECTED"
    assert "format" in found["summer_promo"]["reason"]
    assert {t["account_id"] for t in found.values()} == {str(stack.tenant.accounts["whatsapp"])}
    assert [t["name"] for t in templates(stack, status="APPROVED")] == sorted(
        ["booking_confirmation", "booking_reminder", "todays_special", "menu_pdf"]
    )


async def test_a_sync_follows_every_page(stack: Stack) -> None:
    waba = stack.tenant.wabas["whatsapp"]
    for i in range(13):  # 8 samples + 13 = 21 templates: 5 pages of 5
        stack.sandbox(
            "POST",
            "/templates",
            json={
                "waba_id": waba,
                "name": f"extra_{i:02d}",
                "components": [{"type": "BODY", "text": "Hi {{1}}"}],
            },
        )
    engine = catalog_engine(stack.settings.database_url)
    registry = TenantEngineRegistry(
        catalog=Catalog(engine), server_url=stack.settings.database_url, connections_per_server=2
    )
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            before = len(stack.graph_requests("message_templates"))
            outcome = await sync_account(
                registry.begin,
                GraphClient(http, f"{stack.meta}/v21.0"),
                KeyRing.from_strings(stack.settings.encryption_key_list()),
                stack.tenant.id,
                stack.tenant.accounts["whatsapp"],
                min_interval=timedelta(0),
                page_size=5,
            )
    finally:
        await registry.close()
        await engine.dispose()
    assert (outcome.state, outcome.count) == ("synced", 21)
    pages = stack.graph_requests("message_templates")[before:]
    assert len(pages) == 5
    assert all("fields=" in p["url"] for p in pages)
    assert len(templates(stack)) == 21


def test_a_status_webhook_updates_the_template_at_once_and_tells_the_owner(stack: Stack) -> None:
    synced(stack)
    sandbox_id = next(
        t["id"]
        for t in stack.sandbox("GET", "/templates", params={"waba_id": stack.tenant.wabas["whatsapp"]})
        if t["name"] == "menu_pdf"
    )
    answer = stack.sandbox(
        "POST", f"/templates/{sandbox_id}/status", json={"status": "PAUSED", "reason": "LOW_QUALITY"}
    )
    assert answer["status_code"] == 200  # our ingress took the signed webhook
    paused = wait_until(
        lambda: [t for t in templates(stack) if t["name"] == "menu_pdf" and t["status"] == "PAUSED"],
        what="menu_pdf paused by the webhook",
    )
    assert "reported" in paused[0]["reason"]
    notes = stack.http.get("/api/notifications").json()
    notice = next(n for n in notes if n["kind"] == "template_status")
    assert "menu_pdf" in notice["title"]
    assert "cannot be sent" in notice["body"]
    # Approved again: the notice is resolved.
    stack.sandbox("POST", f"/templates/{sandbox_id}/status", json={"status": "APPROVED"})
    wait_until(
        lambda: (
            not [n for n in stack.http.get("/api/notifications").json() if n["kind"] == "template_status"]
        ),
        what="the notice resolved",
    )


def test_after_24_hours_only_a_template_goes_and_the_history_reads_as_the_customer_saw_it(
    stack: Stack,
) -> None:
    synced(stack)
    stack.stale("whatsapp", hours=30)
    chat = stack.tenant.chats["whatsapp"]
    text = stack.http.post(f"/api/conversations/{chat}/messages", json={"text": "Hello?"})
    assert text.status_code == 409
    assert text.json()["reason"] == "window_closed"
    assert "template" in text.json()["detail"]
    sent = stack.http.post(f"/api/conversations/{chat}/messages", json={"template": BOOKING})
    assert sent.status_code == 202, sent.text
    body = sent.json()
    assert body["kind"] == "template"
    assert body["template"]["name"] == "booking_confirmation"
    assert body["text"].startswith("Booking confirmed, Olga\nHi Olga, your table for 4 on Friday at 21:00")
    row = stack.settled(body["id"], "sent", "delivered", "read")
    wamid = row["external_message_id"]
    at_meta = stack.sent()[wamid]
    assert at_meta["type"] == "template"
    assert at_meta["text"] == row["text"]  # what we show is what Meta rendered for the customer
    assert at_meta["template"]["parameters"]["body"] == ["Olga", "4", "Friday", "21:00"]
    history = stack.http.get(f"/api/conversations/{chat}/messages", params={"mark_read": False}).json()
    shown = next(m for m in history if m["id"] == body["id"])
    assert shown["template"]["parameters"]["body"] == ["Olga", "4", "Friday", "21:00"]
    assert [b["text"] for b in shown["template"]["buttons"]][:1] == ["See you there"]


@pytest.mark.parametrize(
    ("template", "field", "words"),
    [
        ({"name": "no_such_template", "language": "en_US"}, "template.name", "no template"),
        (
            {"name": "summer_promo", "language": "en_US", "parameters": {"body": ["x"]}},
            "template.name",
            "rejected",
        ),
        ({**BOOKING, "language": "fr_FR"}, "template.name", "fr_FR"),
        (
            {**BOOKING, "parameters": {"header": ["Olga"], "body": ["Olga", "4"]}},
            "template.parameters.body.3",
            "missing",
        ),
        (
            {**BOOKING, "parameters": {"header": ["Olga"], "body": ["Olga", "4", "Friday", "x" * 1100]}},
            "template.parameters.body.4",
            "at most",
        ),
        (
            {"name": "todays_special", "language": "en_US", "parameters": {"body": ["Risotto"]}},
            "template.parameters.header",
            "link",
        ),
    ],
)
def test_bad_templates_are_refused_before_sending_with_the_field_named(
    stack: Stack, template: dict[str, Any], field: str, words: str
) -> None:
    synced(stack)
    chat = stack.tenant.chats["whatsapp"]
    before = len(stack.query("SELECT 1 FROM chat_messages WHERE chat_id = %s", (chat,)))
    refused = stack.http.post(f"/api/conversations/{chat}/messages", json={"template": template})
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == field
    assert words in refused.json()["detail"]
    assert (
        len(stack.query("SELECT 1 FROM chat_messages WHERE chat_id = %s", (chat,))) == before
    )  # nothing half-sent


def test_templates_are_whatsapp_only(stack: Stack) -> None:
    chat = stack.tenant.chats["facebook"]
    refused = stack.http.post(f"/api/conversations/{chat}/messages", json={"template": BOOKING})
    assert refused.status_code == 422
    assert "only on WhatsApp" in refused.json()["detail"]


def test_a_template_meta_refuses_fails_at_once_with_a_plain_reason_and_a_notice(stack: Stack) -> None:
    synced(stack)
    # The template changed on Meta's side after our sync: one more value in its body.
    stack.sandbox(
        "POST",
        "/templates",
        json={
            "waba_id": stack.tenant.wabas["whatsapp"],
            "name": "booking_reminder",
            "language": "es_ES",
            "parameter_format": "NAMED",
            "components": [{"type": "BODY", "text": "Hola {{first_name}}, a las {{time}} en {{place}}."}],
        },
    )
    chat = stack.tenant.chats["whatsapp"]
    template = {
        "name": "booking_reminder",
        "language": "es_ES",
        "parameters": {"body": {"first_name": "Ana", "time": "21:00"}, "buttons": ["B-1"]},
    }
    sent = stack.http.post(f"/api/conversations/{chat}/messages", json={"template": template})
    assert sent.status_code == 202, sent.text
    row = stack.settled(sent.json()["id"], "failed")
    assert row["error_code"] == "132000"
    assert "wrong number of values" in row["error_message"]
    tries = [r for r in stack.graph_requests("/messages") if "booking_reminder" in r["body"]]
    assert len(tries) == 1  # never retried
    notes = stack.http.get("/api/notifications").json()
    assert any(n["kind"] == "template_refused" and "booking_reminder" in n["title"] for n in notes)


def test_writing_first_creates_the_conversation_or_reuses_the_numbers(stack: Stack) -> None:
    synced(stack)
    account = str(stack.tenant.accounts["whatsapp"])
    first = stack.http.post(
        "/api/conversations", json={"account_id": account, "to": "+34 611 22 33 44", "template": BOOKING}
    )
    assert first.status_code == 201, first.text
    again = stack.http.post(
        "/api/conversations", json={"account_id": account, "to": "0034 611-223-344", "template": BOOKING}
    )
    assert again.status_code == 201
    assert again.json()["conversation_id"] == first.json()["conversation_id"]
    assert (first.json()["created"], again.json()["created"]) == (True, False)
    row = stack.settled(first.json()["message_id"], "sent", "delivered", "read")
    assert stack.sent()[row["external_message_id"]]["recipient"] == "34611223344"
    view = stack.http.get(f"/api/conversations/{first.json()['conversation_id']}").json()
    assert view["contact_handle"] == "+34611223344"
    assert view["reply_window_open"] is False
    assert view["templates_allowed"] is True


@pytest.mark.parametrize(
    ("to", "field"),
    [("call me maybe", "to"), ("611 22 33 44", "to"), ("+999 1234", "to")],
)
def test_writing_first_refuses_what_is_not_a_phone_number(stack: Stack, to: str, field: str) -> None:
    account = str(stack.tenant.accounts["whatsapp"])
    before = stack.query("SELECT count(*) AS n FROM contacts")[0]["n"]
    refused = stack.http.post(
        "/api/conversations", json={"account_id": account, "to": to, "template": BOOKING}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == field
    assert stack.query("SELECT count(*) AS n FROM contacts")[0]["n"] == before


def test_writing_first_needs_a_whatsapp_number(stack: Stack) -> None:
    account = str(stack.tenant.accounts["facebook"])
    refused = stack.http.post(
        "/api/conversations", json={"account_id": account, "to": "+34611223344", "template": BOOKING}
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "account_id"


def test_the_openapi_document_has_the_new_routes(stack: Stack) -> None:
    doc = httpx.get(f"{stack.inbox}/openapi.json").json()
    paths = doc["paths"]
    assert "get" in paths["/api/templates"]
    assert "post" in paths["/api/templates/sync"]
    assert "post" in paths["/api/conversations"]
    reply = paths["/api/conversations/{chat_id}/messages"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(reply)
    assert "post" in paths["/api/conversations/{chat_id}/messages/{message_id}/retry"]
    assert "ReplyIn" in doc["components"]["schemas"]


def test_the_account_monitor_fetches_templates_older_than_its_interval(stack: Stack) -> None:
    from health_support import monitor_pass

    synced(stack)
    stack.query(
        "UPDATE wa_template_syncs SET started_at = now() - interval '7 hours', "
        "finished_at = now() - interval '7 hours' RETURNING waba_id"
    )
    before = len(stack.graph_requests("message_templates"))
    outcome = monitor_pass(stack.settings, stack.meta, stack.tenant.id)
    assert outcome["templates_synced"] == 1, outcome
    assert len(stack.graph_requests("message_templates")) > before
    again = monitor_pass(stack.settings, stack.meta, stack.tenant.id)  # fresh now: left alone
    assert again["templates_skipped"] == 1
