"""What ``omni db-server list`` shows of each database server: tenants, size, connections in use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from sqlalchemy.engine import URL

from omni_common.db.servers import ServerRecord, server_admin_url
from omni_common.dburl import libpq_conninfo


@dataclass(frozen=True)
class ServerUsage:
    """One server as seen now; ``error`` set (and the numbers None) when it did not answer."""

    server: ServerRecord
    size_bytes: int | None = None  # its tenants' databases together
    connections: int | None = None  # client connections now, whoever holds them
    max_connections: int | None = None
    error: str | None = None


async def server_usage(catalog_url: str | URL, server: ServerRecord, db_names: Sequence[str]) -> ServerUsage:
    """Ask ``server`` for its tenants' size and its connections (5 s to answer, else ``error``)."""
    try:
        async with await psycopg.AsyncConnection.connect(
            libpq_conninfo(server_admin_url(catalog_url, server)),
            autocommit=True,
            connect_timeout=5,
            application_name="omni:status",
        ) as conn:
            size = await (
                await conn.execute(
                    "SELECT coalesce(sum(pg_database_size(datname)), 0) FROM pg_database"
                    " WHERE datname = ANY(%s)",
                    (list(db_names),),
                )
            ).fetchone()
            conns = await (
                await conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                )
            ).fetchone()
            limit = await (await conn.execute("SHOW max_connections")).fetchone()
    except (psycopg.Error, OSError) as exc:
        text = str(exc).strip()
        return ServerUsage(server, error=text.splitlines()[0][:200] if text else type(exc).__name__)
    return ServerUsage(
        server,
        size_bytes=int(size[0]) if size else 0,
        connections=int(conns[0]) if conns else 0,
        max_connections=int(limit[0]) if limit else None,
    )
