"""The inbox JSON API on a real port, against real PostgreSQL and the session's RabbitMQ vhost."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from inbox_support import PASSWORD, SeededTenant, genuine_token, running_inbox, seed
from psycopg.rows import dict_row

from omni_common.broker.connection import connect
from omni_common.broker.publisher import Publisher
from omni_common.broker.topology import NOTIFICATIONS_EXCHANGE
from omni_common.contracts import NotificationEvent, encode, encode_notification_batch
from omni_common.dburl import libpq_conninfo
from omni_common.media.storage import LocalDiskStorage
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
REFUSED_ROLES = ("staff", "investor", "customer", "super_admin")
INBOX_ROLES = ("business_owner", "manager")


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def app_settings(settings: Settings, media_dir: Path) -> Settings:
    return settings.model_copy(update={"media_storage": str(media_dir)})


@pytest.fixture(scope="module")
def tenants(app_settings: Settings) -> tuple[SeededTenant, SeededTenant]:
    suffix = uuid.uuid4().hex[:6]
    a = seed(app_settings, f"inbox-a-{suffix}", stale_channel="facebook")
    b = seed(app_settings, f"inbox-b-{suffix}")
    return a, b


@pytest.fixture(scope="module")
def base_url(app_settings: Settings, tenants: Any) -> Iterator[str]:
    # The one topology declaration of this module: replies then have a queue to land in.
    with running_inbox(app_settings, declare=True, heartbeat_s=0.5) as url:
        yield url


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=15) as client:
        yield client


def login(
    http: httpx.Client, tenant: SeededTenant, role: str = "business_owner", *, keep_cookie: bool = False
) -> httpx.Response:
    response = http.post(
        "/api/auth/login", json={"tenant": tenant.slug, "email": tenant.users[role], "password": PASSWORD}
    )
    if not keep_cookie:  # the shared client authenticates with bearer tokens only
        http.cookies.clear()
    return response


_tokens: dict[tuple[str, str], str] = {}


def token(http: httpx.Client, tenant: SeededTenant, role: str = "business_owner") -> dict[str, str]:
    key = (tenant.slug, role)
    if key not in _tokens:
        response = login(http, tenant, role)
        assert response.status_code == 200, response.text
        _tokens[key] = response.json()["access_token"]
    return {"Authorization": f"Bearer {_tokens[key]}"}


def db(
    settings: Settings, tenant: SeededTenant, sql: str, params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    with psycopg.connect(
        libpq_conninfo(settings.database_url, database=tenant.db_name), row_factory=dict_row
    ) as c:
        cur = c.execute(sql, params)
        return cur.fetchall() if cur.description else []


class TestLogin:
    def test_owner_gets_a_token_and_an_httponly_samesite_cookie(
        self, http: httpx.Client, tenants: Any
    ) -> None:
        response = login(http, tenants[0])
        assert response.status_code == 200
        assert response.json()["access_token"]
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "omni_session=" in cookie

    def test_manager_gets_in(self, http: httpx.Client, tenants: Any) -> None:
        assert login(http, tenants[0], "manager").status_code == 200

    @pytest.mark.parametrize("role", REFUSED_ROLES)
    def test_other_roles_are_refused_with_403(self, http: httpx.Client, tenants: Any, role: str) -> None:
        response = login(http, tenants[0], role)
        assert response.status_code == 403
        assert "access_token" not in response.text

    def test_wrong_password_unknown_email_and_unknown_tenant_are_401(
        self, http: httpx.Client, tenants: Any
    ) -> None:
        a = tenants[0]
        for body in (
            {"tenant": a.slug, "email": a.users["business_owner"], "password": "wrong-password"},
            {"tenant": a.slug, "email": "nobody@x.test", "password": PASSWORD},
            {"tenant": "no-such-tenant", "email": a.users["business_owner"], "password": PASSWORD},
        ):
            assert http.post("/api/auth/login", json=body).status_code == 401

    def test_logins_are_rate_limited_per_tenant_email_and_address(
        self, http: httpx.Client, tenants: Any
    ) -> None:
        body = {"tenant": tenants[1].slug, "email": "guesser@x.test", "password": "nope-nope"}
        answers = [http.post("/api/auth/login", json=body) for _ in range(6)]
        assert [a.status_code for a in answers] == [401] * 5 + [429]
        assert 800 <= int(answers[5].headers["retry-after"]) <= 900  # the rest of the 15-minute window

    def test_logout_clears_the_cookie(self, base_url: str, tenants: Any) -> None:
        with httpx.Client(base_url=base_url) as browser:
            body = login(browser, tenants[0], keep_cookie=True).json()
            assert browser.get("/api/auth/me").status_code == 200
            assert (
                browser.post("/api/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]}).status_code
                == 204
            )
            assert browser.get("/api/auth/me").status_code == 401


def _endpoints(t: SeededTenant) -> list[tuple[str, str, dict[str, Any] | None]]:
    chat, msg, acc = t.chats["whatsapp"], t.messages["whatsapp"], t.accounts["whatsapp"]
    return [
        ("GET", "/api/conversations", None),
        ("GET", f"/api/conversations/{chat}", None),
        ("GET", f"/api/conversations/{chat}/messages", None),
        ("POST", f"/api/conversations/{chat}/read", None),
        ("POST", f"/api/conversations/{chat}/messages", {"text": "hi"}),
        ("GET", f"/api/media/{msg}", None),
        ("GET", "/api/social-accounts", None),
        (
            "POST",
            "/api/social-accounts",
            {"channel": "facebook", "external_account_id": "1", "token": "x" * 10},
        ),
        ("PATCH", f"/api/social-accounts/{acc}", {"enabled": False}),
        ("GET", "/api/notifications", None),
        ("GET", "/api/events", None),
        ("GET", "/api/auth/me", None),
        ("GET", f"/api/conversations/{chat}/customer", None),  # the customer panel (issue 18)
    ]


class TestRefusals:
    def test_every_endpoint_needs_a_valid_token(self, http: httpx.Client, tenants: Any) -> None:
        for method, path, body in _endpoints(tenants[0]):
            assert http.request(method, path, json=body).status_code == 401, path
            bad = {"Authorization": "Bearer forged.token"}
            assert http.request(method, path, json=body, headers=bad).status_code == 401, path

    @pytest.mark.parametrize("role", REFUSED_ROLES)
    def test_refused_roles_are_refused_everywhere_even_with_a_signed_token(
        self, http: httpx.Client, app_settings: Settings, tenants: Any, role: str
    ) -> None:
        a = tenants[0]
        # As if the user's role had been changed after login: the token is genuine, the role is not allowed.
        forged = genuine_token(app_settings, a, role)
        for method, path, body in _endpoints(a):
            response = http.request(method, path, json=body, headers={"Authorization": f"Bearer {forged}"})
            assert response.status_code == 403, path

    def test_cookie_writes_need_the_csrf_token(self, base_url: str, tenants: Any) -> None:
        a = tenants[0]
        with httpx.Client(base_url=base_url) as browser:
            csrf = login(browser, a, keep_cookie=True).json()["csrf_token"]
            path = f"/api/conversations/{a.chats['whatsapp']}/read"
            assert browser.post(path).status_code == 403
            assert browser.post(path, headers={"X-CSRF-Token": "wrong"}).status_code == 403
            assert browser.post(path, headers={"X-CSRF-Token": csrf}).status_code == 204

    def test_every_page_form_needs_the_sessions_csrf_token(
        self, base_url: str, app_settings: Settings, tenants: Any
    ) -> None:
        a = tenants[0]
        chat, message = a.chats["whatsapp"], a.messages["whatsapp"]
        forms = {
            "/logout": {},
            "/settings/accounts": {"channel": "facebook", "external_account_id": "1", "token": "t" * 9},
            f"/settings/accounts/{a.accounts['facebook']}": {"action": "disable"},
            "/settings/labels": {"name": "csrf-probe"},
            f"/settings/labels/{uuid.uuid4()}": {"action": "delete"},
            "/settings/quick-replies": {"shortcut": "csrfprobe", "body": "x"},
            f"/settings/quick-replies/{uuid.uuid4()}": {"action": "delete"},
            "/settings/assistant": {"name": "csrf-probe"},
            f"/ui/conversations/{chat}/state": {"state": "resolved"},
            f"/ui/conversations/{chat}/assignee": {"assignee_user_id": ""},
            f"/ui/conversations/{chat}/labels": {"add": str(uuid.uuid4())},
            f"/ui/conversations/{chat}/notes": {"body": "csrf probe"},
            f"/ui/conversations/{chat}/reply": {"text": "csrf probe"},
            f"/ui/conversations/{chat}/messages/{message}/reactions": {"emoji": "👍"},
            "/settings/me": {"display_name": "csrf probe"},
            f"/ui/conversations/{chat}/customer/link": {
                "contact_id": str(uuid.uuid4()),
                "other_contact_id": "",
            },
            f"/ui/conversations/{chat}/customer/unlink": {"contact_id": str(uuid.uuid4())},
        }
        audit_before = len(db(app_settings, a, "SELECT id FROM audit_log"))
        with httpx.Client(base_url=base_url) as browser:
            login(browser, a, keep_cookie=True)
            for path, form in forms.items():
                for token_field in ({}, {"csrf_token": "wrong"}):
                    refused = browser.post(path, data=form | token_field)
                    assert refused.status_code == 403, path
                    assert "the form expired" in refused.text, path
        # Nothing any of them would have written was written.
        assert len(db(app_settings, a, "SELECT id FROM audit_log")) == audit_before


class TestIsolation:
    def test_tenant_a_cannot_reach_anything_of_tenant_b(
        self, http: httpx.Client, app_settings: Settings, tenants: Any
    ) -> None:
        a, b = tenants
        auth = token(http, a)
        for method, path, body in _endpoints(b):
            if path in (
                "/api/conversations",
                "/api/social-accounts",
                "/api/notifications",
                "/api/events",
                "/api/auth/me",
            ) or (method == "POST" and path == "/api/social-accounts"):
                continue  # tenant-less paths: covered by the listing assertions below
            response = http.request(method, path, json=body, headers=auth)
            assert response.status_code == 404, path
            assert b.slug not in response.text
            assert "hello from" not in response.text
        listed = http.get("/api/conversations", headers=auth).json()["items"]
        assert {c["id"] for c in listed} == {str(c) for c in a.chats.values()}
        accounts = http.get("/api/social-accounts", headers=auth).json()
        assert {x["id"] for x in accounts} >= {str(x) for x in a.accounts.values()}
        assert not {x["id"] for x in accounts} & {str(x) for x in b.accounts.values()}
        # Nothing of B changed through A's calls.
        assert (
            db(app_settings, b, "SELECT count(*) AS n FROM chat_messages WHERE direction = 'outbound'")[0][
                "n"
            ]
            == 0
        )
        assert db(app_settings, b, "SELECT bool_and(is_active) AS ok FROM social_accounts")[0]["ok"]

    def test_connecting_an_account_another_tenant_holds_is_refused(
        self, http: httpx.Client, tenants: Any
    ) -> None:
        a, b = tenants
        body = {
            "channel": "facebook",
            "external_account_id": b.account_ids["facebook"],
            "token": "stolen-token-1",
        }
        response = http.post("/api/social-accounts", json=body, headers=token(http, a))
        assert response.status_code == 409
        assert "another restaurant" in response.json()["detail"]

    def test_events_reach_only_their_own_tenant(
        self, http: httpx.Client, app_settings: Settings, tenants: Any
    ) -> None:
        a, b = tenants
        marker = uuid.uuid4().hex

        async def publish(tenant_id: uuid.UUID, tag: str) -> None:
            conn = await connect(app_settings.rabbitmq_url, name="test-inbox-events")
            publisher = Publisher(conn)
            try:
                event = NotificationEvent(
                    tenant_id=tenant_id,
                    kind="message.created",
                    data={"tag": tag},
                    occurred_at=datetime.now(UTC),
                )
                await publisher.publish(
                    "", encode(event), message_id=tag, exchange=NOTIFICATIONS_EXCHANGE, mandatory=False
                )
            finally:
                await publisher.close()
                await conn.close()

        with http.stream("GET", "/api/events", headers=token(http, a)) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert any(line == "event: ready" for line in lines)
            asyncio.run(publish(b.id, f"b-{marker}"))
            asyncio.run(publish(a.id, f"a-{marker}"))
            seen: list[str] = []
            for line in lines:
                seen.append(line)
                if f"a-{marker}" in line:
                    break
        text = "\n".join(seen)
        assert f"b-{marker}" not in text
        assert "id: " in text

    def test_each_note_of_a_tenant_batch_is_its_own_event_with_its_key(
        self, http: httpx.Client, app_settings: Settings, tenants: Any
    ) -> None:
        a, b = tenants
        marker = uuid.uuid4().hex

        async def publish(tenant_id: uuid.UUID, tag: str) -> None:
            conn = await connect(app_settings.rabbitmq_url, name="test-inbox-batches")
            publisher = Publisher(conn)
            try:
                notes = [
                    (
                        f"{tag}-{n}",
                        encode(
                            NotificationEvent(
                                tenant_id=tenant_id,
                                kind="message.status",
                                data={"tag": f"{tag}-{n}"},
                                occurred_at=datetime.now(UTC),
                            )
                        ),
                    )
                    for n in range(3)
                ]
                body = encode_notification_batch(str(tenant_id), notes)
                await publisher.publish(
                    "", body, message_id=f"{tag}+2", exchange=NOTIFICATIONS_EXCHANGE, mandatory=False
                )
            finally:
                await publisher.close()
                await conn.close()

        with http.stream("GET", "/api/events", headers=token(http, a)) as stream:
            lines = stream.iter_lines()
            assert any(line == "event: ready" for line in lines)
            asyncio.run(publish(b.id, f"b-{marker}"))
            asyncio.run(publish(a.id, f"a-{marker}"))
            ids: list[str] = []
            seen: list[str] = []
            for line in lines:
                seen.append(line)
                if line.startswith("id: "):
                    ids.append(line.removeprefix("id: "))
                if f"a-{marker}-2" in line and not line.startswith("id: "):
                    break
        assert ids == [f"a-{marker}-{n}" for n in range(3)]
        assert f"b-{marker}" not in "\n".join(seen)


class TestConversations:
    @pytest.mark.parametrize("role", INBOX_ROLES)
    def test_list_has_all_channels_newest_first(self, http: httpx.Client, tenants: Any, role: str) -> None:
        b = tenants[1]
        items = http.get("/api/conversations", headers=token(http, b, role)).json()["items"]
        assert [c["channel"] for c in items] == ["whatsapp", "facebook", "instagram"]
        first = items[0]
        for key in (
            "id",
            "channel",
            "contact_name",
            "contact_handle",
            "last_message_at",
            "unread_count",
            "last_message_preview",
            "channel_label",
        ):
            assert key in first
        assert first["channel_label"] == "WhatsApp"

    def test_filter_search_and_keyset_pagination(self, http: httpx.Client, tenants: Any) -> None:
        b = tenants[1]
        auth = token(http, b)
        only_ig = http.get("/api/conversations", params={"channel": "instagram"}, headers=auth).json()[
            "items"
        ]
        assert [c["channel"] for c in only_ig] == ["instagram"]
        by_name = http.get("/api/conversations", params={"q": "customer facebook"}, headers=auth).json()[
            "items"
        ]
        assert [c["channel"] for c in by_name] == ["facebook"]
        by_text = http.get("/api/conversations", params={"q": f"{b.slug} whatsapp"}, headers=auth).json()[
            "items"
        ]
        assert [c["channel"] for c in by_text] == ["whatsapp"]
        assert http.get("/api/conversations", params={"q": "100%_"}, headers=auth).json()["items"] == []
        seen, cursor = [], None
        while True:
            params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
            page = http.get("/api/conversations", params=params, headers=auth).json()
            seen += [c["channel"] for c in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == ["whatsapp", "facebook", "instagram"]
        assert http.get("/api/conversations", params={"cursor": "garbage"}, headers=auth).status_code == 422
        assert http.get("/api/conversations", params={"channel": "telegram"}, headers=auth).status_code == 422

    def test_opening_a_conversation_lists_messages_oldest_first_and_only_a_post_marks_it_read(
        self, http: httpx.Client, tenants: Any
    ) -> None:
        b = tenants[1]
        auth = token(http, b, "manager")
        chat = b.chats["instagram"]

        def unread() -> int:
            return int(http.get(f"/api/conversations/{chat}", headers=auth).json()["unread_count"])

        assert unread() == 2
        messages = http.get(f"/api/conversations/{chat}/messages", headers=auth).json()
        assert len(messages) == 1
        for key in (
            "id",
            "channel",
            "direction",
            "external_message_id",
            "sender_name",
            "sender_handle",
            "kind",
            "text",
            "status",
            "created_at",
            "media",
            "reactions",
            "reply_to",
            "deleted",
        ):
            assert key in messages[0]
        # GETs change nothing (issue 23): the API's, the page's and its fragments' alike; the page
        # marks the conversation read with a POST when it opens it (static/app.js).
        with httpx.Client(base_url=http.base_url, timeout=15) as browser:
            assert login(browser, b, "manager", keep_cookie=True).status_code == 200
            for path in (
                f"/inbox?c={chat}",
                f"/ui/conversations/{chat}",
                f"/ui/conversations/{chat}/messages",
            ):
                assert browser.get(path).status_code == 200, path
        assert unread() == 2
        assert http.post(f"/api/conversations/{chat}/read", headers=auth).status_code == 204
        assert unread() == 0


class TestReplies:
    @pytest.mark.parametrize("role", INBOX_ROLES)
    def test_reply_is_queued_attributed_and_published(
        self, http: httpx.Client, app_settings: Settings, tenants: Any, role: str
    ) -> None:
        a = tenants[0]
        chat, quoted = a.chats["whatsapp"], a.messages["whatsapp"]
        response = http.post(
            f"/api/conversations/{chat}/messages",
            json={"text": f"Table is ready ({role})", "reply_to": str(quoted)},
            headers=token(http, a, role),
        )
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["status"] == "queued"
        assert body["id"]
        row = db(
            app_settings,
            a,
            "SELECT m.*, u.role FROM chat_messages m JOIN users u ON u.id = m.sent_by_user_id "
            "WHERE m.id = %s",
            (body["id"],),
        )[0]
        assert row["role"] == role
        assert row["status"] == "queued"
        assert row["direction"] == "outbound"
        assert row["reply_to_message_id"] == quoted
        assert row["reply_to_external_id"].startswith("ext-")
        outbox = db(app_settings, a, "SELECT * FROM outbox WHERE message_id = %s", (body["id"],))[0]
        assert outbox["kind"] == "reply.send"
        assert outbox["payload"]["message_id"] == body["id"]
        assert outbox["published_at"] is not None  # the broker confirmed the SendReply command
        listed = http.get(f"/api/conversations/{chat}/messages", headers=token(http, a)).json()
        mine = next(m for m in listed if m["id"] == body["id"])
        assert mine["status"] == "queued"
        assert mine["reply_to"]["id"] == str(quoted)

    def test_refusals_say_why(self, http: httpx.Client, app_settings: Settings, tenants: Any) -> None:
        a = tenants[0]
        auth = token(http, a)

        def post(channel: str, text: str, **extra: Any) -> httpx.Response:
            return http.post(
                f"/api/conversations/{a.chats[channel]}/messages", json={"text": text, **extra}, headers=auth
            )

        assert post("whatsapp", "   ").json()["reason"] == "empty"
        too_long = post("instagram", "é" * 501)  # 1002 bytes
        assert too_long.status_code == 422
        assert too_long.json()["reason"] == "too_long"
        assert post("whatsapp", "x" * 4096).status_code == 202
        closed = post("facebook", "hello?")
        assert closed.status_code == 409
        assert closed.json()["reason"] == "window_closed"
        wrong_quote = post("whatsapp", "hi", reply_to=str(a.messages["instagram"]))
        assert wrong_quote.status_code == 422
        assert wrong_quote.json()["reason"] == "invalid_reply_to"
        db(
            app_settings,
            a,
            "UPDATE social_accounts SET status = 'needs_reauth' WHERE id = %s",
            (a.accounts["instagram"],),
        )
        try:
            reauth = post("instagram", "hi")
            assert reauth.status_code == 409
            assert "reconnect the account" in reauth.json()["detail"]
        finally:
            db(
                app_settings,
                a,
                "UPDATE social_accounts SET status = 'active' WHERE id = %s",
                (a.accounts["instagram"],),
            )


class TestMedia:
    def test_stored_media_is_served_to_its_tenant_only(
        self, http: httpx.Client, app_settings: Settings, media_dir: Path, tenants: Any
    ) -> None:
        a, b = tenants
        message_id = a.messages["whatsapp"]
        key = f"{message_id}.jpg"
        asyncio.run(LocalDiskStorage(media_dir).put(a.id, key, b"\xff\xd8jpeg-bytes", "image/jpeg"))
        db(
            app_settings,
            a,
            "UPDATE chat_messages SET media = %s WHERE id = %s",
            (
                psycopg.types.json.Jsonb(
                    {"kind": "image", "state": "stored", "storage_key": key, "mime_type": "image/jpeg"}
                ),
                message_id,
            ),
        )
        ok = http.get(f"/api/media/{message_id}", headers=token(http, a))
        assert ok.status_code == 200
        assert ok.content == b"\xff\xd8jpeg-bytes"
        assert ok.headers["content-type"] == "image/jpeg"
        assert http.get(f"/api/media/{message_id}", headers=token(http, b)).status_code == 404
        listed = http.get(f"/api/conversations/{a.chats['whatsapp']}/messages", headers=token(http, a)).json()
        media = next(m for m in listed if m["id"] == str(message_id))["media"]
        assert media["download_url"] == f"/api/media/{message_id}"
        assert "storage_key" not in media


class TestAccounts:
    def test_connect_list_disable_and_replace_token_without_showing_secrets(
        self, http: httpx.Client, app_settings: Settings, tenants: Any
    ) -> None:
        b = tenants[1]
        auth = token(http, b)  # accounts are the owner's (auth/roles.py)
        ext = str(uuid.uuid4().int)[:15]
        created = http.post(
            "/api/social-accounts",
            headers=auth,
            json={
                "channel": "facebook",
                "external_account_id": ext,
                "token": "page-token-AAAA1234",
                "display_name": "Second location",
            },
        )
        assert created.status_code == 201, created.text
        view = created.json()
        assert view["token_set"]
        assert view["token_last4"] == "1234"
        assert view["status"] == "active"
        listed = http.get("/api/social-accounts", headers=auth)
        assert "page-token-AAAA1234" not in listed.text
        assert "credentials" not in listed.text
        off = http.patch(f"/api/social-accounts/{view['id']}", json={"enabled": False}, headers=auth).json()
        assert off["status"] == "disabled"
        assert not off["is_active"]
        replaced = http.patch(
            f"/api/social-accounts/{view['id']}", json={"token": "new-token-ZZZZ9876"}, headers=auth
        ).json()
        assert replaced["token_last4"] == "9876"
        assert replaced["status"] == "disabled"
        on = http.patch(f"/api/social-accounts/{view['id']}", json={"enabled": True}, headers=auth).json()
        assert on["status"] == "active"
        assert (
            http.patch(
                f"/api/social-accounts/{uuid.uuid4()}", json={"enabled": True}, headers=auth
            ).status_code
            == 404
        )
        bad = http.post(
            "/api/social-accounts",
            headers=auth,
            json={"channel": "whatsapp", "external_account_id": "123", "token": "x" * 10},
        )
        assert bad.status_code == 422  # WhatsApp needs its business account id

    def test_expired_token_notification_is_listed_and_resolved_by_a_new_token(
        self, http: httpx.Client, app_settings: Settings, tenants: Any
    ) -> None:
        b = tenants[1]
        auth = token(http, b)
        account = b.accounts["instagram"]
        db(
            app_settings,
            b,
            "INSERT INTO notifications (kind, severity, title, body, social_account_id) "
            "VALUES ('token_expired', 'error', 'Instagram token expired', 'Replace it', %s)",
            (account,),
        )
        notes = http.get("/api/notifications", headers=auth).json()
        assert [n["kind"] for n in notes] == ["token_expired"]
        assert http.post(f"/api/notifications/{notes[0]['id']}/read", headers=auth).status_code == 204
        http.patch(f"/api/social-accounts/{account}", json={"token": "fresh-token-0001"}, headers=auth)
        assert http.get("/api/notifications", headers=auth).json() == []


def test_openapi_documents_the_api(http: httpx.Client) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    for path in (
        "/api/auth/login",
        "/api/conversations",
        "/api/conversations/{chat_id}/messages",
        "/api/social-accounts",
        "/api/social-accounts/{account_id}",
        "/api/events",
        "/api/media/{message_id}",
    ):
        assert path in paths


def test_health(http: httpx.Client) -> None:
    assert http.get("/healthz").status_code == 200
    assert http.get("/readyz").status_code == 200
