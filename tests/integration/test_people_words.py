"""Issue 18, server-side words and people, through the JSON API against the real PostgreSQL and
RabbitMQ (and the Meta sandbox for the profile lookup): phone search whatever the formatting,
replies signed with names, audit sentences, Retry as a new send, the customer panel and linking
contacts as one person, never across tenants, and Instagram customers named instead of numbered."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from health_support import register_accounts
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from psycopg.rows import dict_row

from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
PHONE = "4915799990003"


@pytest.fixture(scope="module")
def tenants(settings: Settings) -> tuple[SeededTenant, SeededTenant]:
    suffix = uuid.uuid4().hex[:6]
    return seed(settings, f"people-a-{suffix}"), seed(settings, f"people-b-{suffix}")


@pytest.fixture(scope="module")
def http(settings: Settings, tenants: Any, root_url: str) -> Iterator[httpx.Client]:
    for t in tenants:
        register_accounts(root_url, t)
    graph = settings.model_copy(update={"graph_api_url": f"{root_url}/v21.0"})
    with running_inbox(graph, declare=True) as url, httpx.Client(base_url=url, timeout=15) as client:
        yield client


_tokens: dict[tuple[str, str], str] = {}


def auth(http: httpx.Client, tenant: SeededTenant, role: str = "business_owner") -> dict[str, str]:
    key = (tenant.slug, role)
    if key not in _tokens:
        body = {"tenant": tenant.slug, "email": tenant.users[role], "password": PASSWORD}
        response = http.post("/api/auth/login", json=body)
        http.cookies.clear()
        assert response.status_code == 200, response.text
        _tokens[key] = response.json()["access_token"]
    return {"Authorization": f"Bearer {_tokens[key]}"}


def db(
    settings: Settings, tenant: SeededTenant, sql: str, params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    with psycopg.connect(
        libpq_conninfo(settings.database_url, database=tenant.db_name), row_factory=dict_row
    ) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


def contact_of(settings: Settings, tenant: SeededTenant, channel: str) -> str:
    rows = db(settings, tenant, "SELECT contact_id FROM chats WHERE id = %s", (tenant.chats[channel],))
    return str(rows[0]["contact_id"])


def audit(http: httpx.Client, tenant: SeededTenant, action: str) -> list[dict[str, Any]]:
    response = http.get("/api/audit", params={"action": action}, headers=auth(http, tenant))
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_a_phone_number_is_found_whatever_its_formatting(
    http: httpx.Client, settings: Settings, tenants: Any
) -> None:
    a, b = tenants
    db(
        settings,
        a,
        "UPDATE contacts SET handle = %s, external_id = %s WHERE id = %s",
        (f"+{PHONE}", PHONE, contact_of(settings, a, "whatsapp")),
    )
    for typed in ("+49 157 9999 0003", "0049-157-9999-0003", "0157 99990003", "49 (157) 9999-0003"):
        found = http.get("/api/conversations", params={"q": typed, "state": "all"}, headers=auth(http, a))
        assert found.status_code == 200, found.text
        assert [c["id"] for c in found.json()["items"]] == [str(a.chats["whatsapp"])], typed
    # The other restaurant has no such customer; a word still searches names and texts.
    other = http.get("/api/conversations", params={"q": "+49 157 9999 0003"}, headers=auth(http, b))
    assert other.json()["items"] == []
    words = http.get(
        "/api/conversations", params={"q": "customer instagram", "state": "all"}, headers=auth(http, a)
    )
    assert [c["channel"] for c in words.json()["items"]] == ["instagram"]


def test_replies_are_signed_with_the_users_name_and_you_for_oneself(
    http: httpx.Client, settings: Settings, tenants: Any
) -> None:
    a, _ = tenants
    chat = a.chats["whatsapp"]
    sent = http.post(
        f"/api/conversations/{chat}/messages",
        json={"text": "Table for 2 at 8"},
        headers=auth(http, a, "manager"),
    )
    assert sent.status_code == 202, sent.text
    stored = db(settings, a, "SELECT sender_name FROM chat_messages WHERE id = %s", (sent.json()["id"],))
    assert "@" not in stored[0]["sender_name"]

    def signed(role: str) -> dict[str, Any]:
        items = http.get(f"/api/conversations/{chat}/messages", headers=auth(http, a, role)).json()
        return next(m for m in items if m["id"] == sent.json()["id"])

    assert signed("manager")["sender_name"] == "You"
    assert signed("business_owner")["sender_name"] == "Manager"  # seeded display name
    renamed = http.put(
        "/api/auth/me/name", json={"display_name": "Demo  Manager"}, headers=auth(http, a, "manager")
    )
    assert renamed.json() == {"display_name": "Demo Manager"}
    assert signed("business_owner")["sender_name"] == "Demo Manager"
    assert signed("business_owner")["sent_by_name"] == "Demo Manager"
    # Cleared, the name is made from the email, never the email itself.
    http.put("/api/auth/me/name", json={"display_name": ""}, headers=auth(http, a, "manager"))
    assert signed("business_owner")["sender_name"] == "Manager"
    http.put("/api/auth/me/name", json={"display_name": "Demo Manager"}, headers=auth(http, a, "manager"))
    assert audit(http, a, "user.renamed")[0]["summary"] == "Changed their name to “Demo Manager”"


def test_audit_rows_are_sentences_with_names(http: httpx.Client, settings: Settings, tenants: Any) -> None:
    a, _ = tenants
    chat = a.chats["whatsapp"]
    manager = db(settings, a, "SELECT id FROM users WHERE email = %s", (a.users["manager"],))[0]["id"]
    db(settings, a, "UPDATE users SET display_name = 'Demo Manager' WHERE id = %s", (manager,))
    changed = http.patch(
        f"/api/conversations/{chat}", json={"assignee_user_id": str(manager)}, headers=auth(http, a)
    )
    assert changed.status_code == 200, changed.text
    entry = audit(http, a, "conversation.assigned")[0]
    assert (
        entry["summary"]
        == f"Assigned the conversation with {a.slug} customer whatsapp (WhatsApp) to Demo Manager"
    )
    assert str(manager) not in entry["summary"]
    assert entry["actor_name"] == "Owner"  # made from owner@…, the email is not shown as a name
    resolved = http.patch(f"/api/conversations/{chat}", json={"state": "resolved"}, headers=auth(http, a))
    assert resolved.status_code == 200
    assert audit(http, a, "conversation.state_changed")[0]["summary"].startswith(
        "Marked the conversation with"
    )


def test_retry_sends_a_failed_reply_again_as_a_new_message_once(
    http: httpx.Client, settings: Settings, tenants: Any
) -> None:
    a, _ = tenants
    chat = a.chats["facebook"]
    failed = str(uuid.uuid4())
    db(
        settings,
        a,
        "INSERT INTO chat_messages (id, tenant_id, chat_id, channel, direction, kind, text, status, "
        "error_code, error_message) VALUES (%s, %s, %s, 'facebook', 'outbound', 'text', "
        "'Your table is ready', 'failed', '131026', 'Message undeliverable')",
        (failed, a.id, chat),
    )
    before = http.get(f"/api/conversations/{chat}/messages", headers=auth(http, a)).json()
    shown = next(m for m in before if m["id"] == failed)
    assert "another way" in shown["next_step"]
    assert shown["resent"] is False

    again = http.post(f"/api/conversations/{chat}/messages/{failed}/retry", headers=auth(http, a))
    assert again.status_code == 202, again.text
    new_id = again.json()["id"]
    assert new_id != failed
    assert again.json()["text"] == "Your table is ready"
    rows = db(settings, a, "SELECT status, resent_as FROM chat_messages WHERE id = %s", (failed,))
    assert rows == [{"status": "failed", "resent_as": uuid.UUID(new_id)}]  # the failure stays as it was
    assert db(settings, a, "SELECT count(*) AS n FROM outbox WHERE message_id = %s", (new_id,))[0]["n"] == 1
    twice = http.post(f"/api/conversations/{chat}/messages/{failed}/retry", headers=auth(http, a))
    assert twice.status_code == 409
    entry = audit(http, a, "reply.retried")[0]
    assert entry["details"] == {"message_id": failed, "kind": "text", "new_message_id": new_id}
    assert entry["summary"].startswith("Sent a failed message to")
    after = http.get(f"/api/conversations/{chat}/messages", headers=auth(http, a)).json()
    assert next(m for m in after if m["id"] == failed)["resent"] is True


def test_the_customer_panel_links_and_unlinks_contacts_within_the_tenant(
    http: httpx.Client, settings: Settings, tenants: Any
) -> None:
    a, b = tenants
    wa, ig = a.chats["whatsapp"], a.chats["instagram"]
    wa_contact, ig_contact = contact_of(settings, a, "whatsapp"), contact_of(settings, a, "instagram")
    db(settings, a, "INSERT INTO chat_notes (chat_id, body) VALUES (%s, 'Allergic to nuts')", (ig,))
    label = http.post(
        "/api/labels", json={"name": f"VIP {uuid.uuid4().hex[:4]}"}, headers=auth(http, a)
    ).json()
    assert http.put(f"/api/conversations/{ig}/labels/{label['id']}", headers=auth(http, a)).status_code == 204

    alone = http.get(f"/api/conversations/{wa}/customer", headers=auth(http, a)).json()
    assert (alone["conversation_count"], alone["other_conversations"], alone["linked"]) == (1, [], False)

    # Another restaurant's contact cannot be linked (it does not exist here), nor its panel read.
    foreign = contact_of(settings, b, "instagram")
    refused = http.post(
        f"/api/contacts/{wa_contact}/link", json={"other_contact_id": foreign}, headers=auth(http, a)
    )
    assert refused.status_code == 404
    assert (
        http.get(f"/api/conversations/{b.chats['whatsapp']}/customer", headers=auth(http, a)).status_code
        == 404
    )

    linked = http.post(
        f"/api/contacts/{wa_contact}/link", json={"other_contact_id": ig_contact}, headers=auth(http, a)
    )
    assert linked.status_code == 204, linked.text
    panel = http.get(f"/api/conversations/{wa}/customer", headers=auth(http, a)).json()
    assert (panel["linked"], panel["conversation_count"]) == (True, 2)
    assert [o["id"] for o in panel["other_conversations"]] == [str(ig)]
    assert {c["channel"] for c in panel["contacts"]} == {"whatsapp", "instagram"}
    assert [n["body"] for n in panel["notes"]] == ["Allergic to nuts"]
    assert [lb["name"] for lb in panel["labels"]] == [label["name"]]
    assert audit(http, a, "contact.linked")[0]["summary"].startswith(f"Linked {a.slug} customer whatsapp")

    unlinked = http.delete(f"/api/contacts/{ig_contact}/link", headers=auth(http, a))
    assert unlinked.status_code == 204
    panel = http.get(f"/api/conversations/{wa}/customer", headers=auth(http, a)).json()
    assert (panel["conversation_count"], panel["linked"]) == (1, False)
    assert db(settings, a, "SELECT count(*) AS n FROM contacts WHERE person_id IS NOT NULL")[0]["n"] == 0
    assert audit(http, a, "contact.unlinked")[0]["summary"].startswith("Unlinked")


def test_an_instagram_customer_is_named_from_meta_never_by_a_platform_id(
    http: httpx.Client, settings: Settings, tenants: Any, root_url: str
) -> None:
    _, b = tenants
    chat = b.chats["instagram"]
    igsid = b.contacts["instagram"]
    db(
        settings,
        b,
        "UPDATE contacts SET display_name = NULL, handle = external_id, profile_fetched_at = NULL "
        "WHERE id = %s",
        (contact_of(settings, b, "instagram"),),
    )
    listed = http.get("/api/conversations", params={"channel": "instagram"}, headers=auth(http, b)).json()[
        "items"
    ]
    assert listed[0]["contact_name"] == f"Instagram customer …{igsid[-4:]}"
    assert listed[0]["contact_handle"] is None
    contact = {"channel": "instagram", "user_id": igsid, "name": "Lena Vogel", "username": "lena.v"}
    httpx.post(f"{root_url}/_sandbox/contacts", json=contact).raise_for_status()
    panel = http.get(f"/api/conversations/{chat}/customer", headers=auth(http, b)).json()
    assert panel["name"] == "Lena Vogel"
    assert panel["contacts"][0]["handle"] == "@lena.v"
    listed = http.get("/api/conversations", params={"channel": "instagram"}, headers=auth(http, b)).json()[
        "items"
    ]
    assert (listed[0]["contact_name"], listed[0]["contact_handle"]) == ("Lena Vogel", "@lena.v")


def test_notices_name_the_account_not_its_platform_id(
    http: httpx.Client, settings: Settings, tenants: Any
) -> None:
    _, b = tenants
    ext = b.account_ids["instagram"]
    body = f"Meta no longer accepts the access token of {ext} (expired)."
    db(
        settings,
        b,
        "INSERT INTO notifications (kind, severity, title, body, social_account_id) "
        "VALUES ('token_expired', 'error', 'Instagram connection needs attention', %s, %s)",
        (body, b.accounts["instagram"]),
    )
    notices = http.get("/api/notifications", headers=auth(http, b)).json()
    said = next(n for n in notices if n["kind"] == "token_expired")
    assert ext not in said["body"]
    assert f"“{b.slug} instagram”" in said["body"]  # the account's display name
