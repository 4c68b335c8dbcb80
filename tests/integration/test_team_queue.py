"""Working the queue through the JSON API: state and snooze, assignment, labels, quick replies, notes,
per-user unread and the audit trail (owners only), each kept inside its tenant."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from psycopg.rows import dict_row

from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tenants(settings: Settings) -> tuple[SeededTenant, SeededTenant]:
    suffix = uuid.uuid4().hex[:6]
    return seed(settings, f"queue-a-{suffix}"), seed(settings, f"queue-b-{suffix}")


@pytest.fixture(scope="module")
def http(settings: Settings, tenants: Any) -> Iterator[httpx.Client]:
    # The one topology declaration of this module (replies need their queue).
    with running_inbox(settings, declare=True) as url, httpx.Client(base_url=url, timeout=15) as client:
        yield client


_tokens: dict[tuple[str, str], str] = {}


def auth(http: httpx.Client, tenant: SeededTenant, role: str = "business_owner") -> dict[str, str]:
    key = (tenant.slug, role)
    if key not in _tokens:
        body = {"tenant": tenant.slug, "email": tenant.users[role], "password": PASSWORD}
        response = http.post("/api/auth/login", json=body)
        http.cookies.clear()  # bearer tokens only
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


def user_id(settings: Settings, tenant: SeededTenant, role: str) -> str:
    return str(db(settings, tenant, "SELECT id FROM users WHERE email = %s", (tenant.users[role],))[0]["id"])


def audit(settings: Settings, tenant: SeededTenant, action: str) -> list[dict[str, Any]]:
    return db(settings, tenant, "SELECT * FROM audit_log WHERE action = %s ORDER BY id", (action,))


def insert_inbound(settings: Settings, tenant: SeededTenant, channel: str, text: str = "again") -> None:
    db(
        settings,
        tenant,
        "INSERT INTO chat_messages (tenant_id, chat_id, channel, external_message_id, direction, kind, text, "
        "status) VALUES (%s, %s, %s, %s, 'inbound', 'text', %s, 'received')",
        (tenant.id, tenant.chats[channel], channel, f"ext-{uuid.uuid4().hex}", text),
    )


def listed(
    http: httpx.Client, tenant: SeededTenant, role: str = "business_owner", **params: Any
) -> list[str]:
    response = http.get("/api/conversations", params=params, headers=auth(http, tenant, role))
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["items"]]


def later(**kw: float) -> str:
    return (datetime.now(UTC) + timedelta(**kw)).isoformat()


class TestState:
    def test_transitions_filters_and_audit(
        self, http: httpx.Client, settings: Settings, tenants: Any
    ) -> None:
        a = tenants[0]
        chat = str(a.chats["whatsapp"])
        h = auth(http, a, "manager")
        pending = http.patch(f"/api/conversations/{chat}", json={"state": "pending"}, headers=h)
        assert pending.status_code == 200, pending.text
        assert pending.json()["state"] == "pending"
        assert chat in listed(http, a, state="pending")
        assert chat not in listed(http, a, state="open")
        until = later(hours=2)
        snoozed = http.patch(f"/api/conversations/{chat}", json={"snoozed_until": until}, headers=h).json()
        assert snoozed["state"] == "snoozed"
        assert datetime.fromisoformat(snoozed["snoozed_until"]) == datetime.fromisoformat(until)
        assert chat in listed(http, a, state="snoozed")
        resolved = http.patch(f"/api/conversations/{chat}", json={"state": "resolved"}, headers=h).json()
        assert resolved["state"] == "resolved"
        assert resolved["snoozed_until"] is None
        assert chat in listed(http, a, state="resolved")
        assert chat in listed(http, a, state="all")
        assert chat in listed(http, a)  # no state filter: the API lists every state
        again = http.patch(f"/api/conversations/{chat}", json={"state": "resolved"}, headers=h)
        assert again.status_code == 200  # no change: no new audit entry
        changes = [
            (e["details"]["from"], e["details"]["to"])
            for e in audit(settings, a, "conversation.state_changed")
            if e["target_id"] == chat
        ]
        assert changes == [("open", "pending"), ("pending", "snoozed"), ("snoozed", "resolved")]
        entry = audit(settings, a, "conversation.state_changed")[-1]
        assert entry["actor_email"] == a.users["manager"]
        assert entry["target_id"] == chat

    def test_a_new_inbound_message_reopens_a_resolved_conversation(
        self, http: httpx.Client, settings: Settings, tenants: Any
    ) -> None:
        a = tenants[0]
        chat = str(a.chats["instagram"])
        h = auth(http, a)
        assert (
            http.patch(f"/api/conversations/{chat}", json={"state": "resolved"}, headers=h).status_code == 200
        )
        insert_inbound(settings, a, "instagram", "one more question")
        assert http.get(f"/api/conversations/{chat}", headers=h).json()["state"] == "open"
        assert chat in listed(http, a, state="open")

    def test_an_expired_snooze_reads_as_open(
        self, http: httpx.Client, settings: Settings, tenants: Any
    ) -> None:
        a = tenants[0]
        chat = str(a.chats["facebook"])
        h = auth(http, a)
        db(
            settings,
            a,
            "UPDATE chats SET state = 'snoozed', snoozed_until = now() - interval '1 minute' WHERE id = %s",
            (chat,),
        )
        view = http.get(f"/api/conversations/{chat}", headers=h).json()
        assert view["state"] == "open"
        assert view["snoozed_until"] is None
        assert chat in listed(http, a, state="open")
        assert chat not in listed(http, a, state="snoozed")
        # Opening it again tidies the row without recording a change nobody made.
        before = len(audit(settings, a, "conversation.state_changed"))
        assert http.patch(f"/api/conversations/{chat}", json={"state": "open"}, headers=h).status_code == 200
        assert db(settings, a, "SELECT state FROM chats WHERE id = %s", (chat,))[0]["state"] == "open"
        assert len(audit(settings, a, "conversation.state_changed")) == before

    @pytest.mark.parametrize(
        ("body", "says"),
        [
            ({"state": "closed"}, "state must be one of"),
            ({"state": "snoozed"}, "needs snoozed_until"),
            ({"snoozed_until": "2020-01-01T00:00:00Z"}, "in the future"),
            ({"snoozed_until": "2099-01-01T00:00:00"}, "time zone"),
            ({"state": "open", "snoozed_until": "2099-01-01T00:00:00Z"}, "only goes with"),
            ({"snoozed_until": "2099-01-01T00:00:00Z"}, "90 days"),
            ({}, "nothing to change"),
        ],
    )
    def test_invalid_changes_are_clear_422s(
        self, http: httpx.Client, tenants: Any, body: dict[str, Any], says: str
    ) -> None:
        a = tenants[0]
        response = http.patch(f"/api/conversations/{a.chats['whatsapp']}", json=body, headers=auth(http, a))
        assert response.status_code == 422
        assert says in response.json()["detail"]

    def test_unknown_filters_are_422(self, http: httpx.Client, tenants: Any) -> None:
        h = auth(http, tenants[0])
        for params in ({"state": "closed"}, {"assignee": "someone"}, {"label": "nope"}):
            assert http.get("/api/conversations", params=params, headers=h).status_code == 422


class TestAssignment:
    def test_users_assign_reassign_unassign_filters_and_audit(
        self, http: httpx.Client, settings: Settings, tenants: Any
    ) -> None:
        a = tenants[1]
        owner, manager = user_id(settings, a, "business_owner"), user_id(settings, a, "manager")
        h = auth(http, a)
        people = http.get("/api/users", headers=h).json()
        assert {p["id"] for p in people} == {owner, manager}
        assert {p["role"] for p in people} == {"business_owner", "manager"}
        assert "password" not in str(people)
        chat = str(a.chats["whatsapp"])
        first = http.patch(f"/api/conversations/{chat}", json={"assignee_user_id": manager}, headers=h).json()
        assert first["assignee_user_id"] == manager
        assert first["assignee_name"] == "Manager"
        assert listed(http, a, "manager", assignee="me") == [chat]
        assert chat not in listed(http, a, assignee="unassigned")
        assert listed(http, a, assignee="me") == []
        second = http.patch(f"/api/conversations/{chat}", json={"assignee_user_id": owner}, headers=h)
        assert second.json()["assignee_user_id"] == owner
        assert listed(http, a, assignee="me") == [chat]
        assert listed(http, a, assignee=manager) == []
        off = http.patch(f"/api/conversations/{chat}", json={"assignee_user_id": None}, headers=h).json()
        assert off["assignee_user_id"] is None
        assert chat in listed(http, a, assignee="unassigned")
        assigned = audit(settings, a, "conversation.assigned")
        assert [(e["details"]["from"], e["details"]["to"]) for e in assigned] == [
            (None, manager),
            (manager, owner),
        ]
        assert [e["details"]["from"] for e in audit(settings, a, "conversation.unassigned")] == [owner]
        assert {e["actor_email"] for e in assigned} == {a.users["business_owner"]}

    def test_only_active_owners_and_managers_can_be_assigned(
        self, http: httpx.Client, settings: Settings, tenants: Any
    ) -> None:
        a, b = tenants
        h = auth(http, a)
        chat = a.chats["facebook"]
        for someone in (user_id(settings, a, "staff"), user_id(settings, b, "manager"), str(uuid.uuid4())):
            response = http.patch(f"/api/conversations/{chat}", json={"assignee_user_id": someone}, headers=h)
            assert response.status_code == 422
            assert "active owner or manager" in response.json()["detail"]


class TestQuickReplies:
    def test_crud_validation_and_audit(self, http: httpx.Client, settings: Settings, tenants: Any) -> None:
        a = tenants[0]
        h = auth(http, a, "manager")
        created = http.post(
            "/api/quick-replies", json={"shortcut": "Hours", "body": "Open 12-23 daily."}, headers=h
        )
        assert created.status_code == 201, created.text
        qr = created.json()
        assert qr["shortcut"] == "hours"  # shortcuts are lowercase
        dup = http.post("/api/quick-replies", json={"shortcut": "hours", "body": "again"}, headers=h)
        assert dup.status_code == 409
        assert "/hours" in dup.json()["detail"]
        for bad in (
            {"shortcut": "no spaces", "body": "x"},
            {"shortcut": "ok", "body": "  "},
            {"shortcut": "ok"},
        ):
            assert http.post("/api/quick-replies", json=bad, headers=h).status_code == 422
        other = http.post(
            "/api/quick-replies", json={"shortcut": "vegan", "body": "Yes, three."}, headers=h
        ).json()
        assert [q["shortcut"] for q in http.get("/api/quick-replies", headers=h).json()] == ["hours", "vegan"]
        edited = http.patch(f"/api/quick-replies/{qr['id']}", json={"body": "Open 12-22."}, headers=h)
        assert edited.json()["body"] == "Open 12-22."
        clash = http.patch(f"/api/quick-replies/{other['id']}", json={"shortcut": "hours"}, headers=h)
        assert clash.status_code == 409
        assert http.delete(f"/api/quick-replies/{other['id']}", headers=h).status_code == 204
        assert http.delete(f"/api/quick-replies/{other['id']}", headers=h).status_code == 404
        assert (
            http.patch(f"/api/quick-replies/{uuid.uuid4()}", json={"body": "x"}, headers=h).status_code == 404
        )
        assert [e["details"]["shortcut"] for e in audit(settings, a, "quick_reply.created")] == [
            "hours",
            "vegan",
        ]
        assert audit(settings, a, "quick_reply.updated")[0]["details"]["to"]["body"] == "Open 12-22."
        assert [e["details"]["shortcut"] for e in audit(settings, a, "quick_reply.deleted")] == ["vegan"]


class TestNotes:
    def test_notes_are_kept_apart_from_messages_and_audited(
        self, http: httpx.Client, settings: Settings, tenants: Any
    ) -> None:
        a = tenants[0]
        h = auth(http, a, "manager")
        chat = a.chats["whatsapp"]
        messages_before = db(settings, a, "SELECT count(*) AS n FROM chat_messages")[0]["n"]
        outbox_before = db(settings, a, "SELECT count(*) AS n FROM outbox")[0]["n"]
        created = http.post(
            f"/api/conversations/{chat}/notes", json={"body": "VIP: allergic to nuts"}, headers=h
        )
        assert created.status_code == 201, created.text
        note = created.json()
        assert note["author_name"] == "Manager"
        notes = http.get(f"/api/conversations/{chat}/notes", headers=h).json()
        assert [n["body"] for n in notes] == ["VIP: allergic to nuts"]
        history = http.get(f"/api/conversations/{chat}/messages", headers=h).text
        assert "allergic to nuts" not in history
        assert db(settings, a, "SELECT count(*) AS n FROM chat_messages")[0]["n"] == messages_before
        assert db(settings, a, "SELECT count(*) AS n FROM outbox")[0]["n"] == outbox_before
        assert (
            http.post(f"/api/conversations/{chat}/notes", json={"body": "  "}, headers=h).status_code == 422
        )
        too_long = http.post(f"/api/conversations/{chat}/notes", json={"body": "x" * 4097}, headers=h)
        assert too_long.status_code == 422
        entry = audit(settings, a, "note.added")[-1]
        assert entry["details"]["note_id"] == note["id"]
        assert entry["target_id"] == str(chat)
        assert "allergic" not in str(entry["details"])  # the trail says a note was added, not what it says


class TestLabels:
    def test_crud_on_conversations_filter_and_audit(
        self, http: httpx.Client, settings: Settings, tenants: Any
    ) -> None:
        a = tenants[1]
        h = auth(http, a)
        allergy = http.post("/api/labels", json={"name": "Allergy", "color": "#D1242F"}, headers=h)
        assert allergy.status_code == 201, allergy.text
        label = allergy.json()
        assert label["color"] == "#d1242f"
        assert http.post("/api/labels", json={"name": "allergy"}, headers=h).status_code == 409
        assert http.post("/api/labels", json={"name": "x", "color": "red"}, headers=h).status_code == 422
        assert http.post("/api/labels", json={"name": "", "color": "#000000"}, headers=h).status_code == 422
        catering = http.post("/api/labels", json={"name": "Catering"}, headers=h).json()
        assert catering["color"] == "#6b7280"
        chat = str(a.chats["instagram"])
        path = f"/api/conversations/{chat}/labels/{label['id']}"
        assert http.put(path, headers=h).status_code == 204
        assert http.put(path, headers=h).status_code == 204  # idempotent: recorded once
        view = http.get(f"/api/conversations/{chat}", headers=h).json()
        assert view["labels"] == [{"id": label["id"], "name": "Allergy", "color": "#d1242f"}]
        assert listed(http, a, label=label["id"]) == [chat]
        assert listed(http, a, label=catering["id"]) == []
        renamed = http.patch(f"/api/labels/{label['id']}", json={"name": "Allergies"}, headers=h).json()
        assert renamed["name"] == "Allergies"
        assert (
            http.patch(f"/api/labels/{label['id']}", json={"name": "catering"}, headers=h).status_code == 409
        )
        assert http.delete(path, headers=h).status_code == 204
        assert listed(http, a, label=label["id"]) == []
        http.put(path, headers=h)
        assert http.delete(f"/api/labels/{label['id']}", headers=h).status_code == 204
        assert http.get(f"/api/conversations/{chat}", headers=h).json()["labels"] == []
        assert http.put(path, headers=h).status_code == 404
        assert [e["details"]["label"] for e in audit(settings, a, "conversation.label_added")] == [
            "Allergy",
            "Allergies",
        ]
        assert len(audit(settings, a, "conversation.label_removed")) == 1
        assert [
            e["action"] for e in db(settings, a, "SELECT action FROM audit_log WHERE action LIKE 'label.%%'")
        ] == [
            "label.created",
            "label.created",
            "label.updated",
            "label.deleted",
        ]


class TestUnreadPerUser:
    def test_one_user_reading_does_not_clear_anothers(
        self, http: httpx.Client, settings: Settings, tenants: Any
    ) -> None:
        a = tenants[1]
        chat = str(a.chats["facebook"])
        owner, manager = auth(http, a), auth(http, a, "manager")

        def mine(h: dict[str, str]) -> int:
            return http.get(f"/api/conversations/{chat}", headers=h).json()["my_unread_count"]

        assert mine(owner) == 1
        assert mine(manager) == 1
        assert http.post(f"/api/conversations/{chat}/read", headers=owner).status_code == 204
        assert mine(owner) == 0
        assert mine(manager) == 1
        insert_inbound(settings, a, "facebook")
        assert mine(owner) == 1
        assert mine(manager) == 2
        http.get(f"/api/conversations/{chat}/messages", headers=manager)  # a GET changes nothing
        assert mine(manager) == 2
        assert http.post(f"/api/conversations/{chat}/read", headers=manager).status_code == 204
        assert mine(manager) == 0
        assert mine(owner) == 1
        # Markers are per conversation too: reading one leaves the others unread.
        others = {
            c["id"]: c["my_unread_count"]
            for c in http.get("/api/conversations", headers=manager).json()["items"]
        }
        assert others == {str(a.chats["whatsapp"]): 1, str(a.chats["instagram"]): 1, chat: 0}
        http.post(f"/api/conversations/{a.chats['instagram']}/read", headers=manager)
        after = {
            c["id"]: c["my_unread_count"]
            for c in http.get("/api/conversations", headers=manager).json()["items"]
        }
        assert after == {str(a.chats["whatsapp"]): 1, str(a.chats["instagram"]): 0, chat: 0}


class TestAudit:
    def test_replies_suggestions_and_assistant_settings_are_recorded(
        self, http: httpx.Client, settings: Settings, tenants: Any
    ) -> None:
        a = tenants[1]
        h = auth(http, a, "manager")
        chat = a.chats["whatsapp"]
        drafts = [
            db(
                settings,
                a,
                "INSERT INTO suggestions (chat_id, source, text) "
                "VALUES (%s, 'local', 'See you at 8!') RETURNING id",
                (chat,),
            )[0]["id"]
            for _ in range(2)
        ]
        as_is = http.post(
            f"/api/conversations/{chat}/messages",
            json={"text": "See you at 8!", "suggestion_id": str(drafts[0])},
            headers=h,
        )
        assert as_is.status_code == 202, as_is.text
        edited = http.post(
            f"/api/conversations/{chat}/messages",
            json={"text": "See you at 8:30!", "suggestion_id": str(drafts[1])},
            headers=h,
        )
        assert edited.status_code == 202
        sent = audit(settings, a, "reply.sent")
        assert [e["details"]["message_id"] for e in sent[-2:]] == [as_is.json()["id"], edited.json()["id"]]
        assert sent[-1]["actor_email"] == a.users["manager"]
        assert audit(settings, a, "suggestion.used")[-1]["details"]["suggestion_id"] == str(drafts[0])
        assert audit(settings, a, "suggestion.edited")[-1]["details"]["suggestion_id"] == str(drafts[1])
        doc = http.get("/api/assistant", headers=h).json()
        doc["enabled"] = True
        doc["tone"]["description"] = "warm"
        owner = auth(http, a)  # the AI settings are the owner's (auth/roles.py)
        assert http.put("/api/assistant", json=doc, headers=owner).status_code == 200
        changed = audit(settings, a, "assistant.updated")[-1]["details"]
        assert changed == {"changed": ["enabled", "tone"], "enabled": True}

    def test_owners_read_the_trail_managers_get_403(
        self, http: httpx.Client, settings: Settings, tenants: Any
    ) -> None:
        a = tenants[1]
        for _ in range(2):  # two entries at least, whatever ran before: paging has a next page
            http.post(
                "/api/quick-replies",
                json={"shortcut": f"a{uuid.uuid4().hex[:6]}", "body": "x"},
                headers=auth(http, a),
            )
        assert http.get("/api/audit", headers=auth(http, a, "manager")).status_code == 403
        owner = auth(http, a)
        page = http.get("/api/audit", params={"limit": 1}, headers=owner).json()
        assert len(page["items"]) == 1
        assert page["next_before"]
        newest = page["items"][0]
        assert newest["action"] == "quick_reply.created"
        older = http.get(
            "/api/audit", params={"limit": 1, "before": page["next_before"]}, headers=owner
        ).json()
        assert older["items"][0]["id"] < newest["id"]
        only = http.get("/api/audit", params={"action": "quick_reply."}, headers=owner).json()["items"]
        assert only
        assert {e["action"] for e in only} <= {
            "quick_reply.created",
            "quick_reply.updated",
            "quick_reply.deleted",
        }
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db(settings, a, "DELETE FROM audit_log")


def _tenant_paths(t: SeededTenant, label_id: str, qr_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    chat = t.chats["whatsapp"]
    return [
        ("PATCH", f"/api/conversations/{chat}", {"state": "resolved"}),
        ("GET", f"/api/conversations/{chat}/notes", None),
        ("POST", f"/api/conversations/{chat}/notes", {"body": "hi"}),
        ("PUT", f"/api/conversations/{chat}/labels/{label_id}", None),
        ("DELETE", f"/api/conversations/{chat}/labels/{label_id}", None),
        ("PATCH", f"/api/labels/{label_id}", {"name": "stolen"}),
        ("DELETE", f"/api/labels/{label_id}", None),
        ("PATCH", f"/api/quick-replies/{qr_id}", {"body": "stolen"}),
        ("DELETE", f"/api/quick-replies/{qr_id}", None),
        ("POST", f"/api/conversations/{chat}/read", None),
    ]


class TestIsolation:
    def test_no_new_endpoint_reaches_another_tenant(
        self, http: httpx.Client, settings: Settings, tenants: Any
    ) -> None:
        a, b = tenants
        hb = auth(http, b)
        label = http.post("/api/labels", json={"name": f"b-only-{uuid.uuid4().hex[:4]}"}, headers=hb).json()
        qr = http.post(
            "/api/quick-replies", json={"shortcut": f"b{uuid.uuid4().hex[:6]}", "body": "B's"}, headers=hb
        )
        audit_before = db(settings, b, "SELECT count(*) AS n FROM audit_log")[0]["n"]
        ha = auth(http, a)
        for method, path, body in _tenant_paths(b, label["id"], qr.json()["id"]):
            response = http.request(method, path, json=body, headers=ha)
            assert response.status_code == 404, (method, path, response.text)
        # A's own chat with B's label is also a 404 (the label is not A's).
        assert (
            http.put(f"/api/conversations/{a.chats['whatsapp']}/labels/{label['id']}", headers=ha).status_code
            == 404
        )
        # The page fragments behind the buttons are tenant-bound the same way.
        b_chat = b.chats["whatsapp"]
        for path, form in (
            (f"/ui/conversations/{b_chat}/state", {"state": "resolved"}),
            (f"/ui/conversations/{b_chat}/assignee", {"assignee_user_id": ""}),
            (f"/ui/conversations/{b_chat}/labels", {"add": label["id"]}),
            (f"/ui/conversations/{b_chat}/notes", {"body": "hi"}),
        ):
            assert http.post(path, data=form, headers=ha).status_code == 404, path
        assert http.get(f"/ui/conversations/{b_chat}/tools", headers=ha).status_code == 404
        own = http.post(
            f"/ui/conversations/{a.chats['whatsapp']}/labels", data={"add": label["id"]}, headers=ha
        )
        assert label["name"] not in own.text
        assert label["id"] not in http.get("/api/labels", headers=ha).text
        assert "B's" not in http.get("/api/quick-replies", headers=ha).text
        assert not set(listed(http, a, state="all")) & {str(c) for c in b.chats.values()}
        assert not {u["email"] for u in http.get("/api/users", headers=ha).json()} & set(b.users.values())
        assert b.slug not in http.get("/api/audit", headers=ha).text
        assert db(settings, b, "SELECT count(*) AS n FROM audit_log")[0]["n"] == audit_before
        assert db(settings, b, "SELECT count(*) AS n FROM chat_notes")[0]["n"] == 0
        assert (
            db(settings, b, "SELECT state FROM chats WHERE id = %s", (b.chats["whatsapp"],))[0]["state"]
            == "open"
        )

    def test_queue_changes_are_announced_live(self, http: httpx.Client, tenants: Any) -> None:
        a, b = tenants
        chat = str(a.chats["instagram"])
        with http.stream("GET", "/api/events", headers=auth(http, a)) as stream:
            lines = stream.iter_lines()
            assert any(line == "event: ready" for line in lines)
            http.patch(f"/api/conversations/{chat}", json={"state": "pending"}, headers=auth(http, b))
            http.patch(f"/api/conversations/{chat}", json={"state": "pending"}, headers=auth(http, a))
            http.post(f"/api/conversations/{chat}/notes", json={"body": "live"}, headers=auth(http, a))
            seen: list[str] = []
            for line in lines:
                seen.append(line)
                if line == "event: note.created":
                    break
        text = "\n".join(seen)
        assert "event: conversation.updated" in text
        assert chat in text
        assert '"state":"pending"' in text


def test_openapi_documents_the_queue(http: httpx.Client) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    for path in (
        "/api/conversations/{chat_id}",
        "/api/users",
        "/api/quick-replies",
        "/api/quick-replies/{qr_id}",
        "/api/conversations/{chat_id}/notes",
        "/api/labels",
        "/api/labels/{label_id}",
        "/api/conversations/{chat_id}/labels/{label_id}",
        "/api/conversations/{chat_id}/read",
        "/api/audit",
    ):
        assert path in paths, path
    assert "patch" in paths["/api/conversations/{chat_id}"]
    params = {p["name"] for p in paths["/api/conversations"]["get"]["parameters"]}
    assert {"state", "assignee", "label", "channel", "q", "cursor", "limit"} <= params
