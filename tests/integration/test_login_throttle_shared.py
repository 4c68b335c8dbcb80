"""Login throttling across two inbox replicas sharing Redis (issue 23, item 2), real PostgreSQL and
Redis: the counts hold across replicas, X-Forwarded-For is believed only from a trusted proxy, the real
user at another address still gets in, and the owner sees failed sign-ins in the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from psycopg.rows import dict_row
from redis import Redis

from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"throttle-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def replicas(settings: Settings, tenant: SeededTenant) -> Iterator[tuple[str, str]]:
    prefix = f"omnitest:{uuid.uuid4().hex}:"
    shared = settings.model_copy(
        update={"redis_url": REDIS, "redis_prefix": prefix, "trusted_proxies": ["127.0.0.1"]}
    )
    with running_inbox(shared, declare=True) as one, running_inbox(shared) as two:
        yield one, two
    client = Redis.from_url(REDIS)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def attempt(
    url: str, tenant: SeededTenant, email: str, password: str, address: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": address} if address else {}
    body = {"tenant": tenant.slug, "email": email, "password": password}
    return httpx.post(f"{url}/api/auth/login", json=body, headers=headers, timeout=30)


def audit(settings: Settings, tenant: SeededTenant) -> list[dict[str, Any]]:
    with psycopg.connect(
        libpq_conninfo(settings.database_url, database=tenant.db_name), row_factory=dict_row
    ) as conn:
        return conn.execute(
            "SELECT details FROM audit_log WHERE action = 'user.sign_in_failed' ORDER BY id"
        ).fetchall()


def test_failures_count_across_replicas_and_the_real_user_still_gets_in(
    replicas: tuple[str, str], tenant: SeededTenant, settings: Settings
) -> None:
    one, two = replicas
    owner = tenant.users["business_owner"]
    codes = [attempt((one, two)[i % 2], tenant, owner, "guess", "198.51.100.7").status_code for i in range(5)]
    assert codes == [401] * 5
    for url in replicas:  # the sixth is refused by either replica
        refused = attempt(url, tenant, owner, PASSWORD, "198.51.100.7")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 800
    # The owner at their own address is not locked out by the guesser.
    assert attempt(two, tenant, owner, PASSWORD, "203.0.113.20").status_code == 200
    rows = [r["details"] for r in audit(settings, tenant)]
    assert {"email": owner, "address": "198.51.100.7", "why": "wrong password"} in rows


def test_a_sprayer_at_one_address_is_stopped_whatever_the_emails(
    replicas: tuple[str, str], tenant: SeededTenant
) -> None:
    one, two = replicas
    codes = [
        attempt((one, two)[i % 2], tenant, f"spray{i}@x.test", "guess", "192.0.2.50").status_code
        for i in range(31)
    ]
    assert codes[:30] == [401] * 30
    assert codes[30] == 429


def test_forged_forwarded_for_from_an_untrusted_peer_is_ignored(
    settings: Settings, tenant: SeededTenant
) -> None:
    # No trusted proxies: a client inventing a new X-Forwarded-For on every try stays one address.
    prefix = f"omnitest:{uuid.uuid4().hex}:"
    alone = settings.model_copy(update={"redis_url": REDIS, "redis_prefix": prefix})
    with running_inbox(alone) as url:
        owner = tenant.users["manager"]
        codes = [attempt(url, tenant, owner, "guess", f"198.51.100.{i}").status_code for i in range(6)]
    assert codes == [401] * 5 + [429]
    client = Redis.from_url(REDIS)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()
