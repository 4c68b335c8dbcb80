"""``omni status``: queue depths and consumers, tenants by status, accounts that need re-auth."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from aio_pika.abc import AbstractConnection
from aio_pika.exceptions import ChannelClosed
from sqlalchemy import select

from omni_common.broker.topology import Topology
from omni_common.db.catalog import Catalog
from omni_common.db.registry import TenantEngineRegistry
from omni_common.db.servers import server_key
from omni_common.db.tenant_models import SocialAccount
from omni_common.dburl import async_url, libpq_conninfo


@dataclass(frozen=True)
class QueueStatus:
    name: str
    messages: int | None  # None: the queue does not exist (topology not declared yet)
    consumers: int | None


@dataclass(frozen=True)
class ServerConnections:
    """One database server's connections: how full it is, and who holds them."""

    server: str
    max_connections: int | None
    in_use: int | None
    by_service: dict[str, int]  # omni-<service> application names; "other" for everyone else
    error: str | None = None


@dataclass
class Status:
    queues: list[QueueStatus] = field(default_factory=list)
    connections: list[ServerConnections] = field(default_factory=list)
    tenants_by_status: dict[str, int] = field(default_factory=dict)
    needs_reauth: list[dict[str, str]] = field(default_factory=list)  # tenant slug, channel, account
    unreachable_tenants: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def queue_status(connection: AbstractConnection, topology: Topology) -> list[QueueStatus]:
    """Depth and consumers of every work, retry and dead-letter queue (passive declares)."""
    out: list[QueueStatus] = []
    for queue in topology.queues:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(queue.name, passive=True)
            result = declared.declaration_result
            out.append(QueueStatus(queue.name, result.message_count, result.consumer_count))
        except ChannelClosed:  # a passive declare of a missing queue closes the channel
            out.append(QueueStatus(queue.name, None, None))
        finally:
            if not channel.is_closed:
                await channel.close()
    return out


async def tenant_status(
    catalog: Catalog, registry: TenantEngineRegistry, *, concurrency: int = 4
) -> tuple[dict[str, int], list[dict[str, str]], list[dict[str, str]]]:
    """Tenants by status; every account needing re-auth in active tenants; tenants not answering."""
    tenants = await catalog.list_tenants()
    by_status = dict(Counter(t.status for t in tenants))
    reauth: list[dict[str, str]] = []
    unreachable: list[dict[str, str]] = []
    gate = asyncio.Semaphore(concurrency)

    async def scan(tenant: Any) -> None:
        async with gate:
            try:
                async with registry.session(tenant.id) as session:
                    rows = (
                        await session.execute(
                            select(SocialAccount.platform, SocialAccount.external_account_id).where(
                                SocialAccount.status == "needs_reauth"
                            )
                        )
                    ).all()
            except Exception as exc:  # one unreachable tenant DB must not hide the others
                unreachable.append({"tenant": tenant.slug, "error": type(exc).__name__})
                return
            reauth.extend({"tenant": tenant.slug, "channel": r[0], "account": r[1]} for r in rows)

    await asyncio.gather(*(scan(t) for t in tenants if t.status == "active"))
    reauth.sort(key=lambda r: (r["tenant"], r["channel"], r["account"]))
    return by_status, reauth, unreachable


def service_of(application_name: str) -> str:
    """``omni-normalizer:ab12...`` -> ``normalizer``; ``omni:catalog`` -> ``catalog``; others ``other``."""
    head = application_name.split(":", 1)[0]
    if head.startswith("omni-"):
        return head[len("omni-") :]
    if head == "omni":
        return application_name.split(":", 1)[1] if ":" in application_name else "omni"
    return "other"


async def connection_status(server_urls: list[str]) -> list[ServerConnections]:
    """Connections in use on each server (once per server, whatever the number of URLs naming it)."""
    seen: dict[str, str] = {}
    for url in server_urls:
        seen.setdefault(server_key(async_url(url)), url)
    out: list[ServerConnections] = []
    for key, url in sorted(seen.items()):
        try:
            async with await psycopg.AsyncConnection.connect(
                libpq_conninfo(url), autocommit=True, connect_timeout=5, application_name="omni:status"
            ) as conn:
                limit_row = await (await conn.execute("SHOW max_connections")).fetchone()
                rows = await (
                    await conn.execute(
                        "SELECT coalesce(application_name, ''), count(*) FROM pg_stat_activity"
                        " WHERE backend_type = 'client backend' GROUP BY 1"
                    )
                ).fetchall()
        except psycopg.Error as exc:
            out.append(ServerConnections(key, None, None, {}, error=str(exc).strip()[:200]))
            continue
        by_service: Counter[str] = Counter()
        for name, count in rows:
            by_service[service_of(name)] += count
        total = sum(by_service.values())
        out.append(ServerConnections(key, int(limit_row[0]) if limit_row else None, total, dict(by_service)))
    return out
