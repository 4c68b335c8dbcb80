"""Test harness: real PostgreSQL and RabbitMQ, each test session in its own databases and vhost.

Every pytest process (each xdist worker too) gets a unique namespace ``omnitest_<id>``: the catalog
database is named after it, tenant databases derive their names from the catalog's, and the broker
vhost carries the same name. Everything is dropped at the end, so runs never disturb each other or
a developer's data. testcontainers is used only when the local services are absent and a Docker
engine is present.
"""

from __future__ import annotations

import base64
import os
import secrets
import socket
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from testenv import APP_SECRET, VERIFY_TOKEN, Services, drop_databases, management_put

from omni_common.settings import Settings

# Shared fixtures of the tests that talk to the Meta sandbox.
pytest_plugins = ["sandbox_fixtures"]


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    pg = os.environ.get("OMNI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    amqp = os.environ.get("OMNI_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
    mgmt = os.environ.get("OMNI_TEST_RABBITMQ_MGMT_URL", "http://127.0.0.1:15672")
    if _reachable("127.0.0.1", 5432) and _reachable("127.0.0.1", 5672):
        yield Services(pg, amqp, mgmt, ("guest", "guest"))
        return
    yield from _containers()


def _containers() -> Iterator[Services]:  # pragma: no cover - only where a Docker engine exists
    try:
        from testcontainers.postgres import PostgresContainer
        from testcontainers.rabbitmq import RabbitMqContainer
    except ImportError:
        pytest.exit("PostgreSQL/RabbitMQ are not on 127.0.0.1 and testcontainers is not installed", 2)
    with (
        PostgresContainer("postgres:15", driver=None) as pgc,
        RabbitMqContainer("rabbitmq:3.12-management").with_exposed_ports(5672, 15672) as mq,
    ):
        host = mq.get_container_host_ip()
        yield Services(
            pgc.get_connection_url(),
            f"amqp://guest:guest@{host}:{mq.get_exposed_port(5672)}",
            f"http://{host}:{mq.get_exposed_port(15672)}",
            ("guest", "guest"),
        )


@pytest.fixture(scope="session")
def namespace() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    return f"omnitest_{worker}_{secrets.token_hex(4)}"


@pytest.fixture(scope="session")
def vhost(services: Services, namespace: str) -> Iterator[str]:
    api = httpx.Client(base_url=services.mgmt_url, auth=services.mgmt_auth, timeout=60)
    name = quote(namespace, safe="")
    management_put(api, f"/api/vhosts/{name}")
    user = services.mgmt_auth[0]
    management_put(api, f"/api/permissions/{name}/{user}", {"configure": ".*", "write": ".*", "read": ".*"})
    yield namespace
    api.delete(f"/api/vhosts/{name}")
    api.close()


# Every secret this test run uses; no test's captured output (its services' logs included) may hold
# one (issue 23: log redaction, checked over the whole run, not only in test_logging.py).
SECRETS_IN_USE: set[str] = {"secret-pass-1"}  # inbox_support.PASSWORD


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not report.passed:
        return
    captured = "\n".join((report.capstdout, report.capstderr, report.caplog))
    leaked = sorted(s for s in SECRETS_IN_USE if s and s in captured)
    if leaked:
        report.outcome = "failed"
        report.longrepr = f"a secret of this run reached the log during {report.when}: " + ", ".join(
            f"{s[:4]}…" for s in leaked
        )


@pytest.fixture(scope="session")
def settings(services: Services, namespace: str, vhost: str) -> Iterator[Settings]:
    """Settings of this test session: its own catalog database and vhost, short retry delays."""
    base = services.pg_admin_url.rsplit("/", 1)[0]
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    SECRETS_IN_USE.update({key, APP_SECRET, VERIFY_TOKEN})
    yield Settings(
        _env_file=None,
        database_url=f"{base}/{namespace}",
        rabbitmq_url=f"{services.amqp_base}/{quote(vhost, safe='')}",
        encryption_keys=key,
        meta_app_secrets=APP_SECRET,
        meta_verify_token=VERIFY_TOKEN,
        graph_api_url="http://127.0.0.1:9/v21.0",
        # Inbox tests save tokens without a Graph API; test_inbox_accounts_meta.py turns checks on.
        verify_accounts=False,
        env="development",  # the only mode where account checks may be off
        retry_delays_ms=[200, 500],
        delivery_limit=4,
        db_connections_per_server=8,
        # Tests never leave this machine: fixture CDN URLs (lookaside.fbsbx.com) are not fetched.
        media_hosts=["127.0.0.1"],
        log_json=True,
    )
    drop_databases(services.pg_admin_url, namespace)


@pytest.fixture(scope="session")
def mgmt(services: Services, vhost: str) -> Iterator[httpx.Client]:
    """RabbitMQ management API client (for assertions on queues of this session's vhost)."""
    with httpx.Client(base_url=services.mgmt_url, auth=services.mgmt_auth, timeout=10) as client:
        yield client
