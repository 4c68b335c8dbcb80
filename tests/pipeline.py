"""The inbound pipeline for tests: real ingress (HTTP), router and normalizer on real RabbitMQ/PostgreSQL.

Each service runs in its own thread with its own event loop, as it would in its own process, and
talks to the broker and the databases over real connections. Helpers sign webhooks like Meta,
read tenant databases and dead-letter queues, and wait for outcomes with deadlines (no fixed sleeps).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg.rows import dict_row
from sandbox_server import serve

from ingress_webhooks.main import build_apps
from normalizer.main import handler_factory as normalizer_handlers
from omni_common.broker.topology import Topology, build_topology
from omni_common.crypto import KeyRing
from omni_common.db.catalog import Catalog, TenantRecord, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings
from omni_common.tenancy.accounts import connect_account, set_account_enabled
from omni_common.tenancy.migrate import migrate_all
from omni_common.tenancy.provisioning import create_tenant
from omni_common.worker import HandlerFactory, run_worker
from tenant_router.main import handler_factory as router_handlers

T = TypeVar("T")


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_of(payload: dict[str, Any] | bytes) -> bytes:
    return payload if isinstance(payload, bytes) else orjson.dumps(payload)


class WorkerThread:
    """A worker (``run_worker``) in a thread of its own, stoppable from the test."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def _main(self) -> None:
        async def go() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            started = asyncio.Event()
            started_waiter = asyncio.create_task(started.wait())
            started_waiter.add_done_callback(lambda _t: self._started.set())
            await run_worker(stop=self._stop, started=started, **self._kwargs)

        try:
            asyncio.run(go())
        except BaseException as exc:  # surfaced to the test through start()/stop()
            self.error = exc
            self._started.set()

    def start(self, timeout: float = 20) -> None:
        self._thread.start()
        if not self._started.wait(timeout) or self.error is not None:
            raise RuntimeError(f"worker {self._thread.name} did not start") from self.error

    def stop(self, timeout: float = 20) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)


@dataclass
class Pipeline:
    settings: Settings
    topology: Topology
    ingress_url: str  # the webhook routes (the public port)
    ingress_health_url: str  # /healthz, /readyz, /metrics (OMNI_HEALTH_PORT)

    def tenant_conninfo(self, db_name: str) -> str:
        return libpq_conninfo(self.settings.database_url, database=db_name)

    def messages(
        self, db_name: str, where: str = "TRUE", params: tuple[Any, ...] = ()
    ) -> list[dict[str, Any]]:
        with psycopg.connect(self.tenant_conninfo(db_name), row_factory=dict_row) as conn:
            return conn.execute(
                f"SELECT * FROM chat_messages WHERE {where} ORDER BY created_at", params
            ).fetchall()

    def query(self, db_name: str, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with psycopg.connect(self.tenant_conninfo(db_name), row_factory=dict_row) as conn:
            return conn.execute(sql, params).fetchall()


def wait_until(check: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.05, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        time.sleep(interval)


async def await_until(
    check: Callable[[], Awaitable[T]], *, timeout: float = 15.0, interval: float = 0.05, what: str = ""
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        await asyncio.sleep(interval)


def _worker(settings: Settings, topology: Topology, service: str, factory: HandlerFactory) -> WorkerThread:
    return WorkerThread(
        service,
        service=service,
        rabbitmq_url=settings.rabbitmq_url,
        topology=topology,
        prefetch=50,
        build_handlers=factory,
    )


@contextmanager
def running_pipeline(settings: Settings) -> Iterator[Pipeline]:
    """Ingress, router and normalizer, running until the block ends."""
    topology = build_topology(
        retry_delays_ms=settings.retry_delays_ms, delivery_limit=settings.delivery_limit
    )
    router = _worker(settings, topology, "tenant-router", router_handlers(settings))
    normalizer = _worker(settings, topology, "normalizer", normalizer_handlers(settings))
    apps = build_apps(settings)
    with serve(apps.webhooks) as ingress_url, serve(apps.health) as ingress_health_url:
        router.start()
        normalizer.start()
        try:
            yield Pipeline(settings, topology, ingress_url, ingress_health_url)
        finally:
            router.stop()
            normalizer.stop()


def unique_digits(n: int = 15) -> str:
    return str(uuid.uuid4().int)[:n]


async def provision(
    settings: Settings,
    slug: str,
    accounts: dict[str, str] | None = None,
    *,
    tokens: dict[str, str] | None = None,
) -> TenantRecord:
    """Migrate, create tenant ``slug`` and connect ``accounts`` (channel -> account id) to it."""
    await migrate_all(settings.database_url)
    tenant = await create_tenant(
        settings.database_url,
        slug,
        display_name=slug.title(),
        owner_email=f"owner@{slug}.test",
        owner_password=f"pw-{slug}-123",
    )
    for channel, account in (accounts or {}).items():
        await connect(settings, tenant.id, channel, account, token=(tokens or {}).get(channel))
    return tenant


async def connect(
    settings: Settings,
    tenant_id: uuid.UUID,
    channel: str,
    account: str,
    *,
    token: str | None = None,
    enabled: bool = True,
) -> None:
    """Connect (and optionally disable) one account of a tenant, as `omni account connect` does."""
    engine = catalog_engine(settings.database_url)
    catalog = Catalog(engine)
    registry = TenantEngineRegistry(
        catalog=catalog, server_url=settings.database_url, connections_per_server=4
    )
    try:
        async with registry.begin(tenant_id) as session:
            await connect_account(
                session,
                catalog=catalog,
                keyring=KeyRing.from_strings(settings.encryption_key_list()),
                tenant_id=tenant_id,
                channel=channel,
                external_account_id=account,
                token=token or f"token-{account}",
            )
            if not enabled:
                await set_account_enabled(
                    session,
                    catalog=catalog,
                    tenant_id=tenant_id,
                    channel=channel,
                    external_account_id=account,
                    enabled=False,
                )
    finally:
        await registry.close()
        await engine.dispose()


@contextmanager
def running_sender(settings: Settings, topology: Topology) -> Iterator[None]:
    """The outbound-sender (own thread and loop) on ``topology``, talking to ``settings.graph_api_url``
    with its ``outbound_*`` settings."""
    from outbound_sender.main import handler_factory as sender_handlers

    thread = _worker(settings, topology, "outbound-sender", sender_handlers(settings))
    thread.start()
    try:
        yield
    finally:
        thread.stop()
