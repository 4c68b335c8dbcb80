"""One fault-test environment: own catalog and vhost, proxies in front of PostgreSQL and RabbitMQ, a fleet.

The services only know the proxies' ports (``OMNI_DATABASE_URL`` and ``OMNI_RABBITMQ_URL``; tenant
databases derive from the catalog URL, so they go through the proxy too). The test itself talks to
the real servers, so it can audit while a fault is on.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aio_pika
import httpx
import psycopg
from chaos_fleet import Fleet, fleet_env
from chaos_load import Tenant
from chaos_proxy import TcpProxy
from chaos_tenants import provision_tenants
from fastapi import FastAPI
from psycopg import sql
from sandbox_server import serve
from testenv import APP_SECRET, management_put

from omni_common.broker.dlq import DeadLetterInfo, list_dead_letters
from omni_common.broker.topology import Topology, build_topology
from omni_common.dburl import libpq_conninfo

Services = Any  # tests/conftest.py's Services (conftest modules are not imported by name)


def drop_databases(admin_url: str, prefix: str, concurrency: int = 8) -> None:
    """Drop this stack's databases (catalog, template, tenants), terminating their connections.

    Concurrently: PostgreSQL merges the checkpoints that DROP DATABASE requests, so 1,000 tenants go
    in seconds instead of minutes on a busy server.
    """
    with psycopg.connect(admin_url, autocommit=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix.replace("_", r"\_") + "%",)
            )
        ]
    pending = list(names)
    lock = threading.Lock()

    def worker() -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            while True:
                with lock:
                    if not pending:
                        return
                    name = pending.pop()
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    threads = [threading.Thread(target=worker) for _ in range(min(concurrency, len(names)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@dataclass
class Stack:
    services: Services
    catalog: str  # catalog database name (tenant databases start with it)
    pg_url: str  # the real server's catalog URL (for the test's own audit queries)
    amqp_url: str  # the real broker, this stack's vhost
    vhost: str
    pg_proxy: TcpProxy
    amqp_proxy: TcpProxy
    fleet: Fleet
    tenants: list[Tenant]
    topology: Topology
    keys: str

    @property
    def ingress(self) -> str:
        return f"http://127.0.0.1:{self.fleet.procs['ingress-webhooks'].port}"

    def admin_conninfo(self) -> str:
        return libpq_conninfo(self.pg_url, database="postgres")

    def dead_letters(self, queue: str | None = None) -> list[DeadLetterInfo]:
        async def go() -> list[DeadLetterInfo]:
            # Bounded: a wedged broker must fail the test, not hang it.
            async with asyncio.timeout(90):
                connection = await aio_pika.connect(self.amqp_url)
                async with connection:
                    return await list_dead_letters(connection, self.topology, queue=queue)

        return asyncio.run(go())

    def dead_letter_headers(self, dlq: str, count: int, timeout: float = 120) -> list[dict[str, Any]]:
        """Headers of the first ``count`` messages of ``dlq``, read with a prefetching consumer that
        never acks (closing the channel puts them all back): thousands per second, where
        ``list_dead_letters``'s one ``basic.get`` per message is too slow for a fuzz run's DLQ."""

        async def go() -> list[dict[str, Any]]:
            connection = await aio_pika.connect(self.amqp_url)
            async with connection:
                channel = await connection.channel()
                await channel.set_qos(prefetch_count=count + 1)
                queue = await channel.declare_queue(dlq, passive=True)
                got: list[dict[str, Any]] = []
                done = asyncio.Event()

                async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                    got.append(dict(message.headers or {}))
                    if len(got) >= count:
                        done.set()

                await queue.consume(on_message, no_ack=False)
                async with asyncio.timeout(timeout):
                    await done.wait()
                await channel.close()
                return got

        return asyncio.run(go())

    def depths(self, *queues: str) -> dict[str, int]:
        """Ready messages per queue (passive declares: exact, unlike the management API's sampled stats)."""

        async def go() -> dict[str, int]:
            connection = await aio_pika.connect(self.amqp_url)
            async with connection:
                channel = await connection.channel()
                out = {}
                for name in queues:
                    q = await channel.declare_queue(name, passive=True)
                    out[name] = q.declaration_result.message_count or 0
                return out

        return asyncio.run(go())

    def all_queue_names(self) -> list[str]:
        names = []
        for stage in self.topology.stages:
            names += [stage.queue, stage.dlq, *stage.retry_queues]
        return names

    def connections(self) -> list[dict[str, Any]]:
        with httpx.Client(base_url=self.services.mgmt_url, auth=self.services.mgmt_auth, timeout=10) as api:
            response = api.get(f"/api/vhosts/{quote(self.vhost, safe='')}/connections")
            response.raise_for_status()
            return response.json()

    def close_connections(self) -> int:
        """Close every client connection of this vhost from the broker's side (management API)."""
        closed = 0
        with httpx.Client(base_url=self.services.mgmt_url, auth=self.services.mgmt_auth, timeout=10) as api:
            for conn in self.connections():
                response = api.delete(
                    f"/api/connections/{quote(conn['name'], safe='')}",
                    headers={"X-Reason": "chaos test: forced close"},
                )
                closed += response.status_code in (200, 204)
        return closed


def profile_stub() -> FastAPI:
    """Answers every Graph profile lookup with a name, so the normalizer's enrichment finishes at once.

    Without it the profile fetches of Messenger/Instagram senders fail (no Graph API here) and their
    retries would swamp the box: load that no fault test is about.
    """
    app = FastAPI()

    @app.get("/v21.0/{object_id}")
    async def profile(object_id: str) -> dict[str, str]:
        return {"id": object_id, "name": "Chaos Customer", "first_name": "Chaos", "last_name": "Customer"}

    return app


@contextlib.contextmanager
def chaos_stack(
    services: Services,
    namespace: str,
    tmp: Path,
    *,
    label: str,
    tenants: int,
    processes: dict[str, int],
    retry_delays_ms: tuple[int, ...] = (500, 1000, 2000, 4000, 8000),
    delivery_limit: int = 20,
    **env: str,
) -> Iterator[Stack]:
    """Provision, start ``processes`` (service -> replicas) behind the proxies; tear everything down."""
    # Tenant and template databases keep only the catalog name's first 24 characters
    # (tenant_db_name): a short, random, own prefix keeps every stack's databases apart.
    catalog = f"omnichaos_{label}{secrets.token_hex(4)}"
    assert len(catalog) <= 24, catalog
    vhost = f"{namespace}_{catalog}"
    base = services.pg_admin_url.rsplit("/", 1)[0]
    pg_url = f"{base}/{catalog}"
    amqp_url = f"{services.amqp_base}/{quote(vhost, safe='')}"
    api = httpx.Client(base_url=services.mgmt_url, auth=services.mgmt_auth, timeout=60)
    pg = urlsplit(services.pg_admin_url)
    amqp = urlsplit(services.amqp_base)
    pg_proxy = TcpProxy("postgresql", pg.hostname or "127.0.0.1", pg.port or 5432)
    amqp_proxy = TcpProxy("rabbitmq", amqp.hostname or "127.0.0.1", amqp.port or 5672)
    fleet: Fleet | None = None
    stack = contextlib.ExitStack()
    try:
        management_put(api, f"/api/vhosts/{quote(vhost, safe='')}")
        management_put(
            api,
            f"/api/permissions/{quote(vhost, safe='')}/{services.mgmt_auth[0]}",
            {"configure": ".*", "write": ".*", "read": ".*"},
        )
        graph = stack.enter_context(serve(profile_stub())) + "/v21.0"
        keys = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        made = asyncio.run(provision_tenants(pg_url, [keys], tenants, prefix=label))
        pg_proxy.start()
        amqp_proxy.start()
        user = f"{pg.username}@" if pg.username else ""
        proxied_pg = f"postgresql://{user}127.0.0.1:{pg_proxy.port}/{catalog}"
        creds = f"{amqp.username}:{amqp.password}@" if amqp.username else ""
        proxied_amqp = f"amqp://{creds}127.0.0.1:{amqp_proxy.port}/{quote(vhost, safe='')}"
        (tmp / "media").mkdir(parents=True, exist_ok=True)
        fleet = Fleet(
            fleet_env(
                database_url=proxied_pg,
                rabbitmq_url=proxied_amqp,
                encryption_keys=keys,
                app_secret=APP_SECRET,
                media_dir=tmp / "media",
                graph_api_url=graph,
                OMNI_RETRY_DELAYS_MS=",".join(map(str, retry_delays_ms)),
                OMNI_DELIVERY_LIMIT=str(delivery_limit),
                **env,
            ),
            tmp,
        )
        fleet.add("ingress-webhooks")
        for service, count in processes.items():
            for i in range(count):
                fleet.add(service, service if i == 0 else f"{service}#{i + 1}")
        fleet.start_all()
        yield Stack(
            services=services,
            catalog=catalog,
            pg_url=pg_url,
            amqp_url=amqp_url,
            vhost=vhost,
            pg_proxy=pg_proxy,
            amqp_proxy=amqp_proxy,
            fleet=fleet,
            tenants=made,
            topology=build_topology(retry_delays_ms=list(retry_delays_ms), delivery_limit=delivery_limit),
            keys=keys,
        )
    finally:
        if fleet is not None:
            fleet.stop_all()
        pg_proxy.close()
        amqp_proxy.close()
        try:
            # The databases are dropped even when a struggling broker refuses the vhost deletion.
            api.delete(f"/api/vhosts/{quote(vhost, safe='')}")
        finally:
            api.close()
            drop_databases(services.pg_admin_url, catalog)
        stack.close()
