"""Sessions that end (issue 23, item 1), on a real port against real PostgreSQL: logout, a password
change, a role change, deactivation and "sign out everywhere" end the sessions they should on the next
request; the event stream closes when its session ends; only the owner manages the team."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import structlog
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from psycopg.rows import dict_row
from typer.testing import CliRunner

from omni_cli.main import app as cli
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
NEW_PASSWORD = "a-new-password-2"


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"sess-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def base_url(settings: Settings, tenant: SeededTenant) -> Iterator[str]:
    with running_inbox(settings, declare=True, heartbeat_s=0.3, session_recheck_s=0.5) as url:
        yield url


def query(
    settings: Settings, tenant: SeededTenant, sql: str, params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    with psycopg.connect(
        libpq_conninfo(settings.database_url, database=tenant.db_name), row_factory=dict_row, autocommit=True
    ) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


def sign_in(base_url: str, tenant: SeededTenant, role: str, password: str = PASSWORD) -> httpx.Client:
    """A client signed in with a bearer token of its own session."""
    client = httpx.Client(base_url=base_url, timeout=15, headers={"User-Agent": "pytest-agent"})
    answer = client.post(
        "/api/auth/login", json={"tenant": tenant.slug, "email": tenant.users[role], "password": password}
    )
    assert answer.status_code == 200, answer.text
    client.cookies.clear()
    client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    return client


def user_id(settings: Settings, tenant: SeededTenant, role: str) -> str:
    return str(
        query(settings, tenant, "SELECT id FROM users WHERE email = %s", (tenant.users[role],))[0]["id"]
    )


def restore(settings: Settings, tenant: SeededTenant, role: str) -> None:
    """Put a member back as seeded (role, access), so each test starts from the same team."""
    query(
        settings,
        tenant,
        "UPDATE users SET role = %s, is_active = true WHERE email = %s",
        (role, tenant.users[role]),
    )


def test_logout_ends_the_session_on_the_server(base_url: str, tenant: SeededTenant) -> None:
    first, second = sign_in(base_url, tenant, "manager"), sign_in(base_url, tenant, "manager")
    assert first.get("/api/auth/me").status_code == 200
    assert first.post("/api/auth/logout").status_code == 204
    refused = first.get("/api/auth/me")
    assert refused.status_code == 401
    assert "signed out" in refused.json()["detail"]
    assert second.get("/api/auth/me").status_code == 200  # another session of the same user stays


def test_a_password_change_ends_every_session_and_the_old_password(
    base_url: str, tenant: SeededTenant, settings: Settings
) -> None:
    first, second = sign_in(base_url, tenant, "manager"), sign_in(base_url, tenant, "manager")
    short = first.put("/api/auth/me/password", json={"current_password": PASSWORD, "new_password": "short"})
    assert short.status_code == 422
    assert "10 characters" in short.json()["detail"]
    wrong = first.put(
        "/api/auth/me/password", json={"current_password": "nope", "new_password": NEW_PASSWORD}
    )
    assert wrong.status_code == 422
    assert "current password" in wrong.json()["detail"]
    assert second.get("/api/auth/me").status_code == 200  # refusals changed nothing

    changed = first.put(
        "/api/auth/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 204
    assert first.get("/api/auth/me").status_code == 401
    assert second.get("/api/auth/me").status_code == 401
    with httpx.Client(base_url=base_url) as anon:
        old = anon.post(
            "/api/auth/login",
            json={"tenant": tenant.slug, "email": tenant.users["manager"], "password": PASSWORD},
        )
        assert old.status_code == 401
    again = sign_in(base_url, tenant, "manager", NEW_PASSWORD)
    assert (
        again.put(
            "/api/auth/me/password", json={"current_password": NEW_PASSWORD, "new_password": PASSWORD}
        ).status_code
        == 204
    )
    actions = [r["action"] for r in query(settings, tenant, "SELECT action FROM audit_log ORDER BY id")]
    assert actions.count("user.password_changed") >= 2


def test_a_role_change_and_deactivation_end_the_members_sessions(
    base_url: str, tenant: SeededTenant, settings: Settings
) -> None:
    owner = sign_in(base_url, tenant, "business_owner")
    manager = sign_in(base_url, tenant, "manager")
    mid = user_id(settings, tenant, "manager")
    try:
        assert owner.put(f"/api/team/members/{mid}/role", json={"role": "staff"}).status_code == 204
        assert manager.get("/api/auth/me").status_code == 401
        with httpx.Client(base_url=base_url) as anon:
            staff = anon.post(
                "/api/auth/login",
                json={"tenant": tenant.slug, "email": tenant.users["manager"], "password": PASSWORD},
            )
            assert staff.status_code == 403  # a staff member may not use the inbox
        assert owner.put(f"/api/team/members/{mid}/role", json={"role": "manager"}).status_code == 204

        manager = sign_in(base_url, tenant, "manager")
        assert owner.post(f"/api/team/members/{mid}/deactivate").status_code == 204
        assert manager.get("/api/auth/me").status_code == 401
        with httpx.Client(base_url=base_url) as anon:
            off = anon.post(
                "/api/auth/login",
                json={"tenant": tenant.slug, "email": tenant.users["manager"], "password": PASSWORD},
            )
            assert off.status_code == 401
        assert owner.post(f"/api/team/members/{mid}/reactivate").status_code == 204
        assert sign_in(base_url, tenant, "manager").get("/api/auth/me").status_code == 200
        assert owner.get("/api/auth/me").status_code == 200  # the owner's own session untouched
    finally:
        restore(settings, tenant, "manager")
    rows = query(
        settings,
        tenant,
        "SELECT action, details FROM audit_log WHERE action LIKE 'user.%%' AND target_id = %s ORDER BY id",
        (mid,),
    )
    actions = [r["action"] for r in rows if r["action"] != "user.sign_in_failed"]
    assert actions[-4:] == ["user.role_changed", "user.role_changed", "user.deactivated", "user.reactivated"]
    failed = [r["details"] for r in rows if r["action"] == "user.sign_in_failed"]
    assert failed[-1]["why"] == "access turned off"  # the owner sees the attempt while turned off


def test_the_last_owner_stays_and_managers_cannot_manage_the_team(
    base_url: str, tenant: SeededTenant, settings: Settings
) -> None:
    owner = sign_in(base_url, tenant, "business_owner")
    me = user_id(settings, tenant, "business_owner")
    demote = owner.put(f"/api/team/members/{me}/role", json={"role": "manager"})
    assert demote.status_code == 409
    assert "at least one active owner" in demote.json()["detail"]
    assert owner.post(f"/api/team/members/{me}/deactivate").status_code == 409
    assert owner.get("/api/auth/me").status_code == 200
    unknown = owner.put(f"/api/team/members/{me}/role", json={"role": "chef"})
    assert unknown.status_code == 422

    manager = sign_in(base_url, tenant, "manager")
    assert manager.get("/api/team/members").status_code == 403
    assert manager.post(f"/api/team/members/{me}/sign-out").status_code == 403
    assert manager.put(f"/api/team/members/{me}/role", json={"role": "staff"}).status_code == 403
    members = owner.get("/api/team/members").json()
    assert {m["email"] for m in members} >= {tenant.users["business_owner"], tenant.users["manager"]}
    assert all("password" not in str(m) for m in members)


def test_sign_out_everywhere_for_oneself_and_by_the_owner(
    base_url: str, tenant: SeededTenant, settings: Settings
) -> None:
    phone, laptop = sign_in(base_url, tenant, "manager"), sign_in(base_url, tenant, "manager")
    mine = laptop.get("/api/auth/sessions").json()
    assert len(mine) >= 2
    assert sum(s["this_one"] for s in mine) == 1
    assert {s["device"] for s in mine} == {"Another app"}  # no browser in the User-Agent
    assert phone.post("/api/auth/sign-out-everywhere").status_code == 204
    assert phone.get("/api/auth/me").status_code == 401
    assert laptop.get("/api/auth/me").status_code == 401

    owner = sign_in(base_url, tenant, "business_owner")
    lost = sign_in(base_url, tenant, "manager")
    assert owner.post(f"/api/team/members/{user_id(settings, tenant, 'manager')}/sign-out").status_code == 204
    assert lost.get("/api/auth/me").status_code == 401
    assert owner.get("/api/auth/me").status_code == 200


def test_the_event_stream_closes_when_its_session_ends(base_url: str, tenant: SeededTenant) -> None:
    watcher = sign_in(base_url, tenant, "manager")
    other = httpx.Client(base_url=base_url, headers=dict(watcher.headers))
    heard: list[str] = []

    def listen() -> None:
        with watcher.stream("GET", "/api/events", timeout=30) as events:
            for line in events.iter_lines():
                heard.append(line)

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    deadline = time.monotonic() + 10
    while "event: ready" not in heard and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "event: ready" in heard
    ended_at = time.monotonic()
    assert other.post("/api/auth/logout").status_code == 204
    reader.join(timeout=10)
    assert not reader.is_alive(), "the stream stayed open after logout"
    assert "event: signed-out" in heard
    assert time.monotonic() - ended_at < 5  # the re-check runs every 0.5 s in this test


def test_the_operators_commands_end_sessions_too(
    base_url: str, tenant: SeededTenant, settings: Settings
) -> None:
    env = {
        "OMNI_DATABASE_URL": settings.database_url,
        "OMNI_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
    }
    saved = structlog.get_config()
    email = tenant.users["manager"]

    def omni(*argv: str, who: str = email) -> Any:
        try:
            return CliRunner().invoke(cli, ["user", *argv, tenant.slug, "--email", who], env=env)
        finally:
            structlog.configure(**saved)  # the CLI logs to the runner's stream, closed after it

    try:
        # (command, what it says, whether the manager is signed in before it: not as staff or when off)
        for argv, words, signed_in in (
            (("set-role", "--role", "staff"), "is now staff; 1 session ended", True),
            (("set-role", "--role", "manager"), "is now manager; 0 sessions ended", False),
            (("deactivate",), "can no longer sign in; 1 session ended", True),
            (("reactivate",), "can sign in again", False),
            (("sign-out",), "signed out everywhere; 1 session ended", True),
            (("set-password", "--password", "another-password-3"), "1 session ended", True),
            (("set-password", "--password", PASSWORD), "0 sessions ended", False),
        ):
            client = sign_in(base_url, tenant, "manager") if signed_in else None
            done = omni(*argv)
            assert done.exit_code == 0, done.output
            assert words in done.output
            if client is not None:
                assert client.get("/api/auth/me").status_code == 401, argv
        owner = omni("deactivate", who=tenant.users["business_owner"])
        assert owner.exit_code == 1
        assert "at least one active owner" in owner.output
    finally:
        restore(settings, tenant, "manager")
    rows = query(settings, tenant, "SELECT actor_email FROM audit_log WHERE action = 'user.deactivated'")
    assert rows[-1]["actor_email"] == "system:cli"


def test_cookies_are_secure_outside_development_and_hsts_over_https(settings: Settings) -> None:
    production = settings.model_copy(update={"env": "production", "verify_accounts": True})
    assert production.secure_cookies()
    assert not settings.secure_cookies()  # development: plain http on a laptop
    assert not production.model_copy(update={"cookie_secure": False}).secure_cookies()
    with running_inbox(production) as url, httpx.Client(base_url=url) as anon:
        login_page = anon.get("/login")
        assert "secure" in login_page.headers["set-cookie"].lower()
        assert "samesite=strict" in login_page.headers["set-cookie"].lower()
        assert "strict-transport-security" not in login_page.headers  # plain http, no public https URL
        # Outside development the API's map is not handed out.
        assert anon.get("/docs").status_code == 404
        assert anon.get("/openapi.json").status_code == 404
        # Non-ASCII in a bearer token or CSRF header: refused, never a 500.
        assert (
            anon.get("/api/auth/me", headers={"Authorization": "Bearer tök.én".encode()}).status_code == 401
        )
    https = production.model_copy(update={"public_url": "https://inbox.example"})
    with running_inbox(https) as url, httpx.Client(base_url=url) as anon:
        assert anon.get("/login").headers["strict-transport-security"].startswith("max-age=31536000")
