"""End to end through the real pipeline and the Meta sandbox: a private note never leaves the
building (the sender makes no Graph request for it), and a customer writing again through a real
signed webhook reopens a resolved conversation, while a reaction of theirs does not."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from health_support import graph_requests, sandbox_with_sender
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from pipeline import Pipeline, body_of, running_pipeline, sign, wait_until
from testenv import APP_SECRET

from omni_common.channels import samples
from omni_common.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"notes-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def pipe(settings: Settings, tenant: SeededTenant) -> Iterator[Pipeline]:
    with running_pipeline(settings) as p:  # declares the topology (once for this module)
        yield p


@pytest.fixture(scope="module")
def meta(settings: Settings, tenant: SeededTenant, pipe: Pipeline) -> Iterator[str]:
    """The sandbox knowing the tenant's accounts, and the outbound-sender sending through it."""
    with sandbox_with_sender(settings, pipe.topology, tenant, ingress_url=pipe.ingress_url) as root:
        yield root


@pytest.fixture(scope="module")
def http(settings: Settings, pipe: Pipeline) -> Iterator[httpx.Client]:
    with running_inbox(settings, declare=False) as url, httpx.Client(base_url=url, timeout=15) as client:
        yield client


def bearer(http: httpx.Client, tenant: SeededTenant) -> dict[str, str]:
    body = {"tenant": tenant.slug, "email": tenant.users["manager"], "password": PASSWORD}
    response = http.post("/api/auth/login", json=body)
    http.cookies.clear()
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_a_note_makes_no_graph_request_while_a_reply_does(
    http: httpx.Client, tenant: SeededTenant, pipe: Pipeline, meta: str
) -> None:
    h = bearer(http, tenant)
    chat = tenant.chats["whatsapp"]
    secret_note = f"note-{uuid.uuid4().hex}: customer is a food critic"
    reply_text = f"reply-{uuid.uuid4().hex}"
    assert (
        http.post(f"/api/conversations/{chat}/notes", json={"body": secret_note}, headers=h).status_code
        == 201
    )
    sent = http.post(f"/api/conversations/{chat}/messages", json={"text": reply_text}, headers=h)
    assert sent.status_code == 202, sent.text
    # The reply (written after the note) reaching Meta shows the sender has worked past the note.
    wait_until(
        lambda: any(reply_text in r["body"] for r in graph_requests(meta)),
        what="the reply reaching the sandbox",
    )
    wait_until(
        lambda: pipe.messages(
            tenant.db_name, "id = %s AND status IN ('sent', 'delivered', 'read')", (sent.json()["id"],)
        ),
        what="the reply marked sent",
    )
    everything = graph_requests(meta)
    assert not [r for r in everything if secret_note in r["body"] or "food critic" in r["url"]]
    assert "food critic" not in str(httpx.get(f"{meta}/_sandbox/sent").json())
    assert not pipe.query(tenant.db_name, "SELECT 1 FROM outbox WHERE payload::text LIKE '%%food critic%%'")
    assert not pipe.messages(tenant.db_name, "text LIKE '%%food critic%%'")
    notes = http.get(f"/api/conversations/{chat}/notes", headers=h).json()
    assert [n["body"] for n in notes] == [secret_note]


def post_webhook(pipe: Pipeline, body: bytes) -> None:
    """Deliver a signed webhook to the real ingress, as Meta would."""
    response = httpx.post(
        f"{pipe.ingress_url}/webhooks/whatsapp",
        content=body,
        headers={"X-Hub-Signature-256": sign(body, APP_SECRET), "Content-Type": "application/json"},
    )
    assert response.status_code == 200


def test_a_customer_writing_again_reopens_a_resolved_conversation(
    http: httpx.Client, tenant: SeededTenant, pipe: Pipeline
) -> None:
    h = bearer(http, tenant)
    chat = tenant.chats["whatsapp"]
    resolved = http.patch(f"/api/conversations/{chat}", json={"state": "resolved"}, headers=h)
    assert resolved.json()["state"] == "resolved"
    text = f"One more thing {uuid.uuid4().hex[:6]}"
    delivery = samples.whatsapp_text(
        phone_number_id=tenant.account_ids["whatsapp"],
        waba_id=tenant.wabas["whatsapp"],
        wa_id=tenant.contacts["whatsapp"],
        name="Returning Customer",
        text=text,
        message_id=f"wamid.{uuid.uuid4().hex}",
        timestamp=int(time.time()),
    )
    body = body_of(delivery)
    post_webhook(pipe, body)
    wait_until(lambda: pipe.messages(tenant.db_name, "text = %s", (text,)), what="the message stored")
    view = http.get(f"/api/conversations/{chat}", headers=h).json()
    assert view["state"] == "open"
    assert view["my_unread_count"] >= 1


def test_a_customers_reaction_leaves_a_resolved_conversation_resolved(
    http: httpx.Client, tenant: SeededTenant, pipe: Pipeline
) -> None:
    h = bearer(http, tenant)
    chat = tenant.chats["whatsapp"]
    assert http.patch(f"/api/conversations/{chat}", json={"state": "resolved"}, headers=h).status_code == 200
    target = pipe.messages(tenant.db_name, "id = %s", (tenant.messages["whatsapp"],))[0]
    reaction_id = f"wamid.{uuid.uuid4().hex}"
    delivery = samples.whatsapp_reaction(
        phone_number_id=tenant.account_ids["whatsapp"],
        waba_id=tenant.wabas["whatsapp"],
        wa_id=tenant.contacts["whatsapp"],
        name="Returning Customer",
        target_message_id=target["external_message_id"],
        emoji="🙏",
        message_id=reaction_id,
        timestamp=int(time.time()),
    )
    post_webhook(pipe, body_of(delivery))
    wait_until(
        lambda: pipe.messages(tenant.db_name, "external_message_id = %s", (reaction_id,)),
        what="the reaction stored",
    )
    view = http.get(f"/api/conversations/{chat}", headers=h).json()
    assert view["state"] == "resolved"  # a thumbs-up is not a new request
    shown = http.get(f"/api/conversations/{chat}/messages", params={"mark_read": False}, headers=h).json()
    assert next(m for m in shown if m["id"] == str(target["id"]))["reactions"] == ["🙏"]
