"""Tenant shards with real processes: 3 normalizers, one killed (-9) mid-flood, one more added.

Routed events for 20 tenants are published as the router publishes them (its ``BrokerEmitter``, one
message per tenant of each chunk, the tenant header set; the second round as plain events, as older
routers sent them) into a topology with 8 shards, on a vhost of this test's own (a sharded topology
must not change the session vhost's routes). Every event must be written exactly once, and until
the kill each tenant's events were written by one replica only (its shard's owner).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import psycopg
import pytest
from pipeline import connect as connect_account
from pipeline import provision, unique_digits, wait_until
from sandbox_server import free_port
from shard_support import Replica, consumers, private_vhost
from testenv import APP_SECRET, Services

from omni_common.broker.connection import connect
from omni_common.broker.publisher import Publisher
from omni_common.broker.shards import TENANT_HEADER
from omni_common.broker.topology import build_topology, declare_topology
from omni_common.channels import samples
from omni_common.channels.inbound import split_delivery
from omni_common.contracts import RoutedEvent, encode
from omni_common.contracts.routing import ROUTED_EVENTS, routing_key
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings
from omni_common.tenancy.provisioning import create_tenant
from tenant_router.batches import BatchLimits, pack
from tenant_router.emit import BrokerEmitter

pytestmark = pytest.mark.integration

TENANTS = 20
SHARDS = 8
PER_TENANT = 60  # 1,200 events
CHUNK = 40  # events per incoming message of the router: about two per tenant, packed per tenant
RATE = 150  # events/s: an 8-s flood, paused after 2/3 until the added replica consumes
KILL_AT, JOIN_AT = 2.5, 4.0  # seconds into the flood
HANDOVER_S = 10.0  # a dead replica's tenants are written by another one within this


@pytest.fixture
def shard_vhost(services: Services, namespace: str) -> Iterator[str]:
    with private_vhost(services, f"{namespace}-shards") as name:
        yield name


def normalizer(worker_id: str, env: dict[str, str], logs: Path) -> Replica:
    return Replica("normalizer", worker_id, env, logs)


def _events(tenant: uuid.UUID, waba: str, count: int) -> list[RoutedEvent]:
    events = []
    for n in range(count):
        mid = f"wamid.shard-{unique_digits()}"
        delivery = samples.whatsapp_text(
            phone_number_id=waba,
            waba_id=waba,
            wa_id=f"1555{n % 5:07d}",
            name="Shard Customer",
            text=f"hello {n}",
            message_id=mid,
            timestamp=int(time.time()),
        )
        for item in split_delivery("whatsapp", orjson.dumps(delivery)).items:
            events.append(
                RoutedEvent(
                    event_id=f"{mid}:{item.index}",
                    delivery_id=mid,
                    tenant_id=tenant,
                    channel="whatsapp",
                    account_id=item.account_id,
                    received_at=datetime.now(UTC),
                    payload=item.payload,
                )
            )
    return events


def _count(settings: Settings, db_name: str) -> tuple[int, int]:
    with psycopg.connect(libpq_conninfo(settings.database_url, database=db_name)) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT external_message_id) FROM chat_messages"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_shards_survive_a_kill_and_a_join_writing_every_event_once(
    settings: Settings, services: Services, shard_vhost: str, tmp_path: Path
) -> None:
    amqp = f"{services.amqp_base}/{quote(shard_vhost, safe='')}"
    topology = build_topology(
        retry_delays_ms=settings.retry_delays_ms,
        delivery_limit=settings.delivery_limit,
        shards={ROUTED_EVENTS: SHARDS},
    )
    waba = unique_digits()
    first = asyncio.run(provision(settings, f"shard0x{waba[-5:]}", {"whatsapp": waba}))  # migrates too
    tenants = [(first.id, first.db_name, waba)]
    env = {
        **os.environ,
        "OMNI_DATABASE_URL": settings.database_url,
        "OMNI_RABBITMQ_URL": amqp,
        "OMNI_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
        "OMNI_META_APP_SECRETS": APP_SECRET,
        "OMNI_RETRY_DELAYS_MS": ",".join(map(str, settings.retry_delays_ms)),
        "OMNI_DELIVERY_LIMIT": str(settings.delivery_limit),
        "OMNI_NORMALIZER_SHARDS": str(SHARDS),
        "OMNI_DB_CONNECTIONS_PER_SERVER": "5",  # 4 processes x (5 + catalog) stay far below 100
        "OMNI_MEDIA_STORAGE": str(tmp_path / "media"),
        "OMNI_GRAPH_API_URL": f"http://127.0.0.1:{free_port()}/v21.0",
        "OMNI_MEDIA_HOSTS": "127.0.0.1",
        "OMNI_HEALTH_PORT": "0",
        "OMNI_LOG_JSON": "true",
        "OMNI_LOG_LEVEL": "INFO",
        "OMNI_ENV": "development",  # guest and the postgres superuser: production refuses both
    }
    shard_queues = topology.shard_queues("normalizer.events")
    # Started while the other tenants are created: their start-up takes seconds on a busy machine.
    replicas = [normalizer(f"n{i}", env, tmp_path) for i in range(3)]
    try:
        tenants += asyncio.run(_provision_more(settings, TENANTS - 1))
        wait_until(
            lambda: all(consumers(services, shard_vhost, q) == 3 for q in shard_queues),
            timeout=60,
            interval=0.5,
            what="3 normalizers consuming every shard",
        )

        killed_at = asyncio.run(_flood(amqp, topology, tenants, replicas, env, tmp_path))

        def all_written() -> bool:
            return all(_count(settings, db)[0] >= PER_TENANT for _, db, _ in tenants)

        wait_until(all_written, timeout=60, interval=0.5, what="every event written")
        time.sleep(2)  # a duplicate would land now (redelivered after the kill)
        for tenant_id, db, _ in tenants:
            assert _count(settings, db) == (PER_TENANT, PER_TENANT), tenant_id
        # Until the kill, each tenant's events were written by one replica only: its shard's owner.
        writers: dict[str, set[str]] = defaultdict(set)
        after_kill: dict[str, datetime] = {}
        for replica in replicas:
            for line in replica.lines("event_stored"):
                at, tenant = datetime.fromisoformat(line["timestamp"]), line["tenant_id"]
                if at < killed_at:
                    writers[tenant].add(replica.worker_id)
                elif replica.worker_id != "n1":
                    after_kill[tenant] = min(at, after_kill.get(tenant, at))
        assert writers, "no event written before the kill"
        assert all(len(w) == 1 for w in writers.values()), dict(writers)
        # The killed replica's tenants were taken over by another replica within seconds.
        orphans = [t for t, w in writers.items() if w == {"n1"}]
        assert orphans, "n1 owned no tenant (rendezvous gave it shards 2, 6 and 7)"
        handover = max((after_kill[t] - killed_at).total_seconds() for t in orphans)
        assert handover < HANDOVER_S, handover
        # The replica added last took shards (1 and 6 of 8 for these names): events published once
        # it consumes reach it. (During the flood it may get none: on a loaded machine the older
        # replicas can hold the backlog in their prefetch before it starts.)
        assert replicas[-1].worker_id == "n3"
        asyncio.run(_publish(amqp, topology, [e for tid, _, waba in tenants for e in _events(tid, waba, 2)]))
        wait_until(
            lambda: bool(replicas[-1].lines("event_stored")), timeout=30, interval=0.5, what="n3 writing"
        )
        wait_until(
            lambda: all(_count(settings, db) == (PER_TENANT + 2, PER_TENANT + 2) for _, db, _ in tenants),
            timeout=60,
            interval=0.5,
            what="the second round written once",
        )
    finally:
        for replica in replicas:
            replica.stop()


async def _provision_more(settings: Settings, count: int) -> list[tuple[uuid.UUID, str, str]]:
    """``count`` more tenants with a WhatsApp account each, four at a time (the catalog is migrated)."""
    limit = asyncio.Semaphore(4)

    async def one(i: int) -> tuple[uuid.UUID, str, str]:
        waba = unique_digits()
        async with limit:
            record = await create_tenant(
                settings.database_url,
                f"shard{i}x{waba[-5:]}",
                display_name=f"Shard {i}",
                owner_email=f"owner@shard{i}x{waba[-5:]}.test",
                owner_password=f"pw-shard-{i}-123",
            )
            await connect_account(settings, record.id, "whatsapp", waba)
        return record.id, record.db_name, waba

    return list(await asyncio.gather(*(one(i) for i in range(1, count + 1))))


async def _publish(amqp: str, topology: Any, events: list[RoutedEvent]) -> None:
    connection = await connect(amqp, name="shards-test-more")
    try:
        publisher = Publisher(connection)
        await publisher.start()
        for event in events:  # one message per event, as routers before batches published them
            await publisher.publish(
                routing_key(ROUTED_EVENTS, event.channel),
                encode(event),
                message_id=event.event_id,
                headers={TENANT_HEADER: str(event.tenant_id), "x-omni-channel": event.channel},
            )
        await publisher.close()
    finally:
        await connection.close()


async def _flood(
    amqp: str,
    topology: Any,
    tenants: list[tuple[uuid.UUID, str, str]],
    replicas: list[Replica],
    env: dict[str, str],
    logs: Path,
) -> datetime:
    """Publish every event at ``RATE``; kill n1 (-9) at ``KILL_AT`` s, start n3 at ``JOIN_AT`` s, and
    hold the last third until n3 consumes every shard (its start-up takes seconds)."""
    per_tenant = [_events(tid, waba, PER_TENANT) for tid, _, waba in tenants]
    # Interleaved: every tenant's events spread over the whole flood.
    events = [e for batch in zip(*per_tenant, strict=True) for e in batch]
    connection = await connect(amqp, name="shards-test")
    killed_at = datetime.now(UTC) + timedelta(days=1)
    try:
        async with connection.channel() as channel:
            await declare_topology(channel, topology)
        publisher = Publisher(connection)
        await publisher.start()
        emitter = BrokerEmitter(publisher, topology)
        start, held = time.monotonic(), False
        for n in range(0, len(events), CHUNK):
            if n >= len(events) * 2 // 3 and not held:
                # Its own log, not the management API: that one's consumer counts lag by seconds.
                await asyncio.to_thread(
                    wait_until, replicas[-1].started, timeout=60, interval=0.2, what="n3 consuming"
                )
                start, held = time.monotonic() - n / RATE, True
            # As the router publishes what one incoming message yielded: one message per tenant.
            await asyncio.gather(*(emitter.routed(b) for b in pack(events[n : n + CHUNK], BatchLimits())))
            elapsed = time.monotonic() - start
            if elapsed >= KILL_AT and replicas[1].proc.poll() is None:
                killed_at = datetime.now(UTC)
                replicas[1].proc.send_signal(signal.SIGKILL)
            if elapsed >= JOIN_AT and len(replicas) == 3:
                replicas.append(normalizer("n3", env, logs))
            await asyncio.sleep(max(0.0, (n + CHUNK) / RATE - (time.monotonic() - start)))
        await publisher.close()
    finally:
        await connection.close()
    return killed_at
