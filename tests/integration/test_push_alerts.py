"""Web Push end to end: a customer's WhatsApp message through the real pipeline reaches the inbox's
live event path, which pushes an encrypted alert to our own push service on 127.0.0.1. The receiver
decrypts it by RFC 8291 (written independently of pywebpush) and checks the VAPID signature against
the tenant's public key; a subscription answered 410 is deleted; a conversation assigned to someone
else alerts only them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import orjson
import psycopg
import pytest
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from pipeline import Pipeline, body_of, running_pipeline, sign, wait_until
from push_receiver import BrowserKeys, PushReceiver, decrypt_aes128gcm, verify_vapid
from sandbox_server import serve
from testenv import APP_SECRET

from omni_common.channels import samples
from omni_common.crypto import binding
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"push-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def pipe(settings: Settings, tenant: SeededTenant) -> Iterator[Pipeline]:
    with running_pipeline(settings) as p:
        yield p


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[PushReceiver, str]]:
    rec = PushReceiver()
    with serve(rec.app()) as url:
        yield rec, url


@pytest.fixture(scope="module")
def http(settings: Settings, pipe: Pipeline) -> Iterator[httpx.Client]:
    local = settings.model_copy(update={"push_endpoint_hosts": ["127.0.0.1"]})
    with running_inbox(local, declare=False) as url, httpx.Client(base_url=url, timeout=15) as client:
        yield client


def bearer(http: httpx.Client, tenant: SeededTenant, role: str) -> dict[str, str]:
    body = {"tenant": tenant.slug, "email": tenant.users[role], "password": PASSWORD}
    response = http.post("/api/auth/login", json=body)
    http.cookies.clear()
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def customer_writes(pipe: Pipeline, tenant: SeededTenant, text: str) -> None:
    delivery = samples.whatsapp_text(
        phone_number_id=tenant.account_ids["whatsapp"],
        waba_id=tenant.wabas["whatsapp"],
        wa_id=tenant.contacts["whatsapp"],
        name="Push Customer",
        text=text,
        message_id=f"wamid.{uuid.uuid4().hex}",
        timestamp=int(time.time()),
    )
    body = body_of(delivery)
    response = httpx.post(
        f"{pipe.ingress_url}/webhooks/whatsapp",
        content=body,
        headers={"X-Hub-Signature-256": sign(body, APP_SECRET), "Content-Type": "application/json"},
    )
    assert response.status_code == 200


def test_subscriptions_are_refused_for_hosts_that_are_not_push_services(
    http: httpx.Client, tenant: SeededTenant
) -> None:
    h = bearer(http, tenant, "manager")
    keys = BrowserKeys()
    refused = http.post(
        "/api/push/subscriptions", json=keys.subscription("http://10.0.0.5/push/x"), headers=h
    )
    assert refused.status_code == 422
    assert "push service" in refused.json()["detail"]


def test_a_customer_message_is_pushed_encrypted_and_a_dead_subscription_is_removed(
    http: httpx.Client, tenant: SeededTenant, pipe: Pipeline, receiver: tuple[PushReceiver, str]
) -> None:
    rec, url = receiver
    owner, manager = bearer(http, tenant, "business_owner"), bearer(http, tenant, "manager")
    key = http.get("/api/push/key", headers=owner).json()["public_key"]
    assert http.get("/api/push/key", headers=manager).json()["public_key"] == key  # one pair per tenant
    phone, dead = BrowserKeys(), BrowserKeys()
    live_token, dead_token = uuid.uuid4().hex, uuid.uuid4().hex
    rec.gone.add(dead_token)
    for keys, token, h in ((phone, live_token, owner), (dead, dead_token, manager)):
        saved = http.post("/api/push/subscriptions", json=keys.subscription(f"{url}/push/{token}"), headers=h)
        assert saved.status_code == 204, saved.text
    stored = pipe.query(tenant.db_name, "SELECT private_key_encrypted FROM push_keys")
    assert stored
    assert stored[0]["private_key_encrypted"].startswith("v1:")

    text = f"Is there a table for 4 tonight? {uuid.uuid4().hex[:6]}"
    customer_writes(pipe, tenant, text)
    pushed = wait_until(lambda: rec.to(live_token), what="the push reaching our push service")[0]
    assert pushed.headers["content-encoding"] == "aes128gcm"
    assert int(pushed.headers["ttl"]) > 0
    claims = verify_vapid(pushed.headers["authorization"], key, url)
    assert claims["sub"].startswith("mailto:")
    assert claims["exp"] > time.time()
    alert = orjson.loads(decrypt_aes128gcm(pushed.body, phone))
    assert alert["body"] == text
    assert alert["title"] == "Push Customer"
    assert alert["url"] == f"/inbox?c={tenant.chats['whatsapp']}"

    wait_until(lambda: rec.to(dead_token), what="the push to the dead subscription")
    wait_until(
        lambda: (
            not pipe.query(
                tenant.db_name, "SELECT 1 FROM push_subscriptions WHERE endpoint LIKE %s", (f"%{dead_token}",)
            )
        ),
        what="the dead subscription removed",
    )
    assert pipe.query(
        tenant.db_name, "SELECT 1 FROM push_subscriptions WHERE endpoint LIKE %s", (f"%{live_token}",)
    )

    # Assigned to the manager: only the manager's devices are alerted now.
    manager_phone, manager_token = BrowserKeys(), uuid.uuid4().hex
    sub = manager_phone.subscription(f"{url}/push/{manager_token}")
    assert http.post("/api/push/subscriptions", json=sub, headers=manager).status_code == 204
    me = http.get("/api/auth/me", headers=manager).json()["user_id"]
    chat = tenant.chats["whatsapp"]
    patched = http.patch(f"/api/conversations/{chat}", json={"assignee_user_id": me}, headers=owner)
    assert patched.status_code == 200, patched.text
    before = len(rec.to(live_token))
    second = f"Also, is the terrace open? {uuid.uuid4().hex[:6]}"
    customer_writes(pipe, tenant, second)
    got = wait_until(lambda: rec.to(manager_token), what="the push to the assignee")[0]
    assert orjson.loads(decrypt_aes128gcm(got.body, manager_phone))["body"] == second
    assert len(rec.to(live_token)) == before  # the owner's phone was not woken for it


def test_turning_alerts_off_forgets_the_subscription(
    http: httpx.Client, tenant: SeededTenant, pipe: Pipeline, receiver: tuple[PushReceiver, str]
) -> None:
    _, url = receiver
    h = bearer(http, tenant, "manager")
    endpoint = f"{url}/push/{uuid.uuid4().hex}"
    assert (
        http.post("/api/push/subscriptions", json=BrowserKeys().subscription(endpoint), headers=h).status_code
        == 204
    )
    assert (
        http.request("DELETE", "/api/push/subscriptions", json={"endpoint": endpoint}, headers=h).status_code
        == 204
    )
    assert not pipe.query(tenant.db_name, "SELECT 1 FROM push_subscriptions WHERE endpoint = %s", (endpoint,))


def test_tenant_creation_makes_the_push_key_sealed(settings: Settings, tenant: SeededTenant) -> None:
    """`omni tenant create` with encryption keys set makes the VAPID pair at once (not on first use)."""
    import asyncio

    from omni_common.crypto import KeyRing
    from omni_common.tenancy.provisioning import create_tenant

    slug = f"pushkey-{uuid.uuid4().hex[:6]}"
    keyring = KeyRing.from_strings(settings.encryption_key_list())
    record = asyncio.run(
        create_tenant(
            settings.database_url,
            slug,
            display_name="Push Key",
            owner_email=f"owner@{slug}.test",
            owner_password=PASSWORD,
            keyring=keyring,
        )
    )
    conninfo = libpq_conninfo(settings.database_url, database=record.db_name)
    with psycopg.connect(conninfo) as conn:
        public, sealed = conn.execute("SELECT public_key, private_key_encrypted FROM push_keys").fetchone()
    assert len(public) == 87
    assert keyring.decrypt(sealed, aad=binding(record.id, "web-push", "vapid_private_key"))
