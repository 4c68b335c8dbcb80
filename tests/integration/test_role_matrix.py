"""The role matrix (issue 23, item 8), on a real port against real PostgreSQL: every route of the app
has a decision in ``inbox_api.auth.roles``, and every route answers every caller as decided.

Callers: the owner, a manager, the four roles that may not use the inbox (with genuine sessions), no
session, and another restaurant's owner. The JSON routes come from the served OpenAPI document, the
pages and forms from the app's routes; a route with no decision fails ``test_every_route_has_a_decision``.

"Allowed" means past the gate: anything but 401/403 (a 404 on a made-up id, a 422 on an empty body
prove it). The allowed callers use made-up ids, so nothing real is changed; the other restaurant's
owner uses this restaurant's real ids and must never get a 2xx (nor a form's "done").
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.routing import iter_route_contexts
from inbox_support import PASSWORD, SeededTenant, genuine_token, running_inbox, seed

from inbox_api.app import create_app
from inbox_api.auth.roles import MATRIX, ROUTES, Capability
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
REFUSED_ROLES = ("staff", "investor", "customer", "super_admin")
# Routes that end the caller's session (or all of them) when allowed: the caller signs in again after.
ENDS_SESSION = {
    ("POST", "/api/auth/logout"),
    ("POST", "/api/auth/sign-out-everywhere"),
    ("POST", "/logout"),
    ("POST", "/settings/sign-out-everywhere"),
}
Route = tuple[str, str]


@asynccontextmanager
async def _no_deps() -> Any:
    yield None


def app_routes() -> dict[Route, bool]:
    """Every (method, path) the app answers, and whether it is in the OpenAPI document."""
    found: dict[Route, bool] = {}
    for ctx in iter_route_contexts(create_app(_no_deps).routes):
        route = ctx.original_route
        methods = getattr(route, "methods", None) or {"GET"}  # a mount (/static) is read with GET
        for method in methods - {"HEAD"}:
            found[(method, getattr(route, "path", ""))] = bool(getattr(route, "include_in_schema", False))
    return found


@pytest.fixture(scope="module")
def app_settings(settings: Settings) -> Settings:
    # A Meta app set up, so "Continue with Facebook" answers the owner (it is never reached here).
    return settings.model_copy(update={"meta_app_id": "1234567890", "public_url": "https://inbox.test"})


@pytest.fixture(scope="module")
def tenants(app_settings: Settings) -> tuple[SeededTenant, SeededTenant]:
    suffix = uuid.uuid4().hex[:6]
    return seed(app_settings, f"roles-a-{suffix}"), seed(app_settings, f"roles-b-{suffix}")


@pytest.fixture(scope="module")
def http(app_settings: Settings, tenants: Any) -> Iterator[httpx.Client]:
    with running_inbox(app_settings, declare=True) as url, httpx.Client(base_url=url, timeout=15) as client:
        yield client


def sign_in(http: httpx.Client, tenant: SeededTenant, role: str) -> str:
    answer = http.post(
        "/api/auth/login", json={"tenant": tenant.slug, "email": tenant.users[role], "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    http.cookies.clear()  # bearer tokens only
    return str(answer.json()["access_token"])


@pytest.fixture(scope="module")
def callers(http: httpx.Client, app_settings: Settings, tenants: Any) -> dict[str, str | None]:
    a, b = tenants
    found: dict[str, str | None] = {role: sign_in(http, a, role) for role in ("business_owner", "manager")}
    found |= {role: genuine_token(app_settings, a, role) for role in REFUSED_ROLES}
    found["no session"] = None
    found["other restaurant"] = sign_in(http, b, "business_owner")
    return found


def _one(settings: Settings, tenant: SeededTenant, sql: str) -> str:
    with psycopg.connect(libpq_conninfo(settings.database_url, database=tenant.db_name)) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture(scope="module")
def real_ids(http: httpx.Client, app_settings: Settings, tenants: Any) -> dict[str, str]:
    """Restaurant A's own ids, for the other restaurant's owner to try."""
    a = tenants[0]
    owner = {"Authorization": f"Bearer {sign_in(http, a, 'business_owner')}"}
    label = http.post("/api/labels", json={"name": "vip"}, headers=owner)
    reply = http.post("/api/quick-replies", json={"shortcut": "hours", "body": "9 to 5"}, headers=owner)
    assert label.status_code == 201, label.text
    assert reply.status_code == 201, reply.text
    return {
        "chat_id": str(a.chats["whatsapp"]),
        "message_id": str(a.messages["whatsapp"]),
        "account_id": str(a.accounts["whatsapp"]),
        "label_id": str(label.json()["id"]),
        "qr_id": str(reply.json()["id"]),
        "contact_id": _one(app_settings, a, "SELECT id FROM contacts LIMIT 1"),
        "member_id": _one(app_settings, a, "SELECT id FROM users WHERE role = 'manager'"),
        "notification_id": str(uuid.uuid4()),
    }


def fill(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no id to try for {path}"
    return path


def call(http: httpx.Client, method: str, path: str, token: str | None, *, page: bool) -> httpx.Response:
    """One request (streamed: the event stream never ends), its body read unless it is the stream."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: dict[str, Any] = {"data": {}} if page else {"json": {}}
    if method == "GET":
        body = {}
    with http.stream(method, path, headers=headers, **body) as response:
        if path != "/api/events" or response.status_code != 200:
            response.read()
        return response


def made_up_ids() -> dict[str, str]:
    names = ("chat_id", "message_id", "account_id", "label_id", "qr_id", "contact_id", "member_id")
    return {name: str(uuid.uuid4()) for name in (*names, "notification_id")}


def test_every_route_has_a_decision(http: httpx.Client) -> None:
    routes = app_routes()
    undecided = sorted(set(routes) - set(ROUTES))
    assert not undecided, f"routes without a decision in inbox_api/auth/roles.py: {undecided}"
    stale = sorted(set(ROUTES) - set(routes))
    assert not stale, f"decisions for routes that no longer exist: {stale}"
    # The served OpenAPI document (development) lists exactly the JSON routes walked here.
    documented = {
        (method.upper(), path)
        for path, item in http.get("/openapi.json").json()["paths"].items()
        for method in item
    }
    assert documented == {route for route, in_schema in routes.items() if in_schema}
    assert MATRIX[Capability.TEAM] == {"business_owner"}  # the owner-only rows of docs/security.md
    owner_only = {c for c, who in MATRIX.items() if who == {"business_owner"}}
    assert owner_only == {"connect_accounts", "ai_settings", "restaurant_settings", "team", "audit"}


def _expect(role: str, capability: Capability, response: httpx.Response, page: bool, where: str) -> None:
    status = response.status_code
    assert status < 500, f"{where}: {status} {response.text[:200]}"
    if role == "no session":
        if page and not where.endswith(" /ui/channel-health"):  # that one answers as its API
            assert status == 303, where
            assert response.headers["location"] == "/login", where
        else:  # a JSON route, or the health fragment the settings page loads
            assert status == 401, where
    elif role in REFUSED_ROLES:
        assert status == 403, where
        assert "only owners and managers can use the inbox" in response.text.lower(), where
    elif role in MATRIX[capability]:
        assert status not in (401, 403), f"{where}: {status} {response.text[:200]}"
    else:  # a manager on the owner's route: refused in plain words, never the form
        assert status == 403, where
        assert "only the owner can" in response.text.lower(), where
        if page:
            assert '<form method="post" action="/settings' not in response.text, where


@pytest.mark.parametrize("role", ["business_owner", "manager", *REFUSED_ROLES, "no session"])
def test_every_route_answers_each_role_as_decided(
    http: httpx.Client, tenants: Any, callers: dict[str, str | None], role: str
) -> None:
    ids = made_up_ids()
    for (method, path), in_schema in sorted(app_routes().items()):
        capability = ROUTES[(method, path)]
        if capability is Capability.PUBLIC:
            continue
        ends = (method, path) in ENDS_SESSION and role in MATRIX[capability]
        response = call(http, method, fill(path, ids), callers[role], page=not in_schema)
        _expect(role, capability, response, not in_schema, f"{role} {method} {path}")
        if ends:  # "everywhere" ended the shared session too
            callers[role] = sign_in(http, tenants[0], role)


def test_public_routes_need_no_session(http: httpx.Client) -> None:
    for (method, path), capability in sorted(ROUTES.items()):
        if capability is Capability.PUBLIC and method == "GET":
            target = "/static/app.js" if path == "/static" else path
            response = call(http, method, target, None, page=True)
            assert response.status_code in (200, 303, 307), f"{path}: {response.status_code}"


def test_another_restaurants_owner_reaches_nothing_here(
    http: httpx.Client, tenants: Any, callers: dict[str, str | None], real_ids: dict[str, str]
) -> None:
    a, b = tenants
    for (method, path), in_schema in sorted(app_routes().items()):
        capability = ROUTES[(method, path)]
        if capability is Capability.PUBLIC:
            continue
        response = call(http, method, fill(path, real_ids), callers["other restaurant"], page=not in_schema)
        if (method, path) in ENDS_SESSION:
            callers["other restaurant"] = sign_in(http, b, "business_owner")
        shown = response.text[:200] if path != "/api/events" else ""
        where = f"{method} {path}: {response.status_code} {shown}"
        assert response.status_code < 500, where
        if path != "/api/events":  # B's own stream
            assert a.slug not in response.text, where  # never a word of restaurant A's data
        if "{" not in path:
            continue  # the caller's own restaurant: nothing of A's named
        assert not 200 <= response.status_code < 300, where
        if response.status_code == 303:  # a form: back with why not, never "done"
            assert "err=" in response.headers["location"], where


def test_managers_see_no_owner_controls_and_a_readable_refusal(
    http: httpx.Client, callers: dict[str, str | None]
) -> None:
    def get(path: str, role: str) -> httpx.Response:
        return http.get(path, headers={"Authorization": f"Bearer {callers[role]}"})

    owner, manager = get("/settings", "business_owner").text, get("/settings", "manager").text
    for control in ('id="connect-form"', 'value="disable"', 'value="token"', 'href="/settings/assistant"'):
        assert control in owner, control
        assert control not in manager, control
    assert "Only the restaurant's owner can connect accounts" in manager
    assert 'href="/audit"' in owner
    assert 'href="/audit"' not in manager
    zone = get("/ui/settings/time-zone", "manager").text
    assert "Save time zone" not in zone
    assert "Only the owner can change this." in zone
    refused = get("/settings/assistant", "manager")
    assert refused.status_code == 403
    assert "Only the owner can change the AI settings." in refused.text
    assert "Back to the inbox" in refused.text
    assert 'action="/settings/assistant"' not in refused.text
