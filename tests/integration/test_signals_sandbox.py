"""Read receipts and "typing…" to WhatsApp customers, through the real sender against the Meta sandbox:
opening a conversation marks the customer's last message read once, writing shows "typing…", both
follow the restaurant's switches (owner only), and other channels get neither."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from health_support import sandbox_with_sender
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from pipeline import Pipeline, body_of, running_pipeline, sign, wait_until
from testenv import APP_SECRET

from omni_common.channels import samples
from omni_common.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"signals-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def pipe(settings: Settings, tenant: SeededTenant) -> Iterator[Pipeline]:
    with running_pipeline(settings) as p:
        yield p


@pytest.fixture(scope="module")
def meta(settings: Settings, tenant: SeededTenant, pipe: Pipeline) -> Iterator[str]:
    with sandbox_with_sender(settings, pipe.topology, tenant, ingress_url=pipe.ingress_url) as root:
        yield root


@pytest.fixture(scope="module")
def http(settings: Settings, pipe: Pipeline) -> Iterator[httpx.Client]:
    with running_inbox(settings, declare=False) as url, httpx.Client(base_url=url, timeout=15) as client:
        yield client


def bearer(http: httpx.Client, tenant: SeededTenant, role: str) -> dict[str, str]:
    body = {"tenant": tenant.slug, "email": tenant.users[role], "password": PASSWORD}
    response = http.post("/api/auth/login", json=body)
    http.cookies.clear()
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def signals(meta: str) -> list[dict[str, Any]]:
    return httpx.get(f"{meta}/_sandbox/signals").json()


def customer_writes(pipe: Pipeline, tenant: SeededTenant) -> str:
    wamid = f"wamid.{uuid.uuid4().hex}"
    delivery = samples.whatsapp_text(
        phone_number_id=tenant.account_ids["whatsapp"],
        waba_id=tenant.wabas["whatsapp"],
        wa_id=tenant.contacts["whatsapp"],
        name="Signal Customer",
        text="Are you open on Sunday?",
        message_id=wamid,
        timestamp=int(time.time()),
    )
    body = body_of(delivery)
    headers = {"X-Hub-Signature-256": sign(body, APP_SECRET), "Content-Type": "application/json"}
    assert (
        httpx.post(f"{pipe.ingress_url}/webhooks/whatsapp", content=body, headers=headers).status_code == 200
    )
    wait_until(lambda: pipe.messages(tenant.db_name, "external_message_id = %s", (wamid,)), what="stored")
    return wamid


def test_opening_marks_read_once_and_writing_shows_typing(
    http: httpx.Client, tenant: SeededTenant, pipe: Pipeline, meta: str
) -> None:
    h = bearer(http, tenant, "manager")
    chat = tenant.chats["whatsapp"]
    wamid = customer_writes(pipe, tenant)
    before = len(signals(meta))
    assert http.post(f"/api/conversations/{chat}/seen", headers=h).json() == {"queued": True}
    got = wait_until(lambda: signals(meta)[before:], what="the read receipt at the sandbox")
    assert got == [
        {
            "account_id": tenant.account_ids["whatsapp"],
            "message_id": wamid,
            "typing": False,
            "at": got[0]["at"],
        }
    ]
    # Opened again (by anyone): the same message is not marked twice.
    owner = bearer(http, tenant, "business_owner")
    assert http.post(f"/api/conversations/{chat}/seen", headers=owner).json() == {"queued": False}

    assert http.post(f"/api/conversations/{chat}/typing", headers=h).json() == {"queued": True}
    # Another tab or owner a moment later: WhatsApp still shows the first one (20 s apart at most).
    assert http.post(f"/api/conversations/{chat}/typing", headers=owner).json() == {"queued": False}
    typing = wait_until(lambda: [s for s in signals(meta) if s["typing"]], what="typing at the sandbox")
    assert typing[0]["message_id"] == wamid
    # Both went through Graph's messages endpoint of the number, as Meta documents them.
    requests = httpx.get(f"{meta}/_sandbox/requests", params={"path_contains": "/messages"}).json()
    bodies = [r["json"] for r in requests if r["json"] and r["json"].get("status") == "read"]
    assert {"messaging_product": "whatsapp", "status": "read", "message_id": wamid} in bodies
    assert {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": wamid,
        "typing_indicator": {"type": "text"},
    } in bodies

    # Messenger has neither.
    assert http.post(f"/api/conversations/{tenant.chats['facebook']}/seen", headers=h).json() == {
        "queued": False
    }


def test_the_owner_switches_them_off(
    http: httpx.Client, tenant: SeededTenant, pipe: Pipeline, meta: str
) -> None:
    owner, manager = bearer(http, tenant, "business_owner"), bearer(http, tenant, "manager")
    off = {"read_receipts": False, "typing_indicator": True}
    assert http.put("/api/settings/signals", json=off, headers=manager).status_code == 403
    assert http.put("/api/settings/signals", json=off, headers=owner).json() == off
    assert http.get("/api/settings/signals", headers=manager).json() == off
    chat = tenant.chats["whatsapp"]
    customer_writes(pipe, tenant)
    before = len(signals(meta))
    assert http.post(f"/api/conversations/{chat}/seen", headers=manager).json() == {"queued": False}
    # Meta's "typing…" marks the message read too, so it goes off with the receipts.
    assert http.post(f"/api/conversations/{chat}/typing", headers=manager).json() == {"queued": False}
    on = {"read_receipts": True, "typing_indicator": False}
    assert http.put("/api/settings/signals", json=on, headers=owner).json() == on
    assert http.post(f"/api/conversations/{chat}/typing", headers=manager).json() == {"queued": False}
    assert http.post(f"/api/conversations/{chat}/seen", headers=manager).json() == {"queued": True}
    wait_until(lambda: signals(meta)[before:], what="the receipt once switched back on")
    assert [s["typing"] for s in signals(meta)[before:]] == [False]


def test_a_receipt_meta_could_not_take_is_sent_again_and_a_send_fault_is_not_used_up_by_it(
    http: httpx.Client, tenant: SeededTenant, pipe: Pipeline, meta: str
) -> None:
    h = bearer(http, tenant, "manager")
    on = {"read_receipts": True, "typing_indicator": True}
    assert (
        http.put("/api/settings/signals", json=on, headers=bearer(http, tenant, "business_owner")).status_code
        == 200
    )
    account = tenant.account_ids["whatsapp"]
    # 131000 "something went wrong": temporary, so the receipt goes through the delay queue again.
    for match in ({"account_id": account, "signals": True}, {"account_id": account, "method": "POST"}):
        httpx.post(f"{meta}/_sandbox/faults", json={"error_code": 131000, "match": match}).raise_for_status()
    wamid = customer_writes(pipe, tenant)
    assert http.post(f"/api/conversations/{tenant.chats['whatsapp']}/seen", headers=h).json() == {
        "queued": True
    }
    wait_until(
        lambda: [s for s in signals(meta) if s["message_id"] == wamid], what="the receipt after a retry"
    )
    faults = httpx.get(f"{meta}/_sandbox/faults").json()
    assert [f["hits"] for f in faults if f["signals"]] == [1]
    assert [f["hits"] for f in faults if not f["signals"]] == [0]  # still there for a send
    httpx.delete(f"{meta}/_sandbox/faults").raise_for_status()
