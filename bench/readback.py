"""What reached the tenant databases, and when: the "committed row" end of end-to-end figures.

Inbound messages are stamped by ``created_at`` and applied statuses by ``updated_at`` (both
``now()`` of the normalizer's transaction, so a few ms before its commit). Statuses cannot use
``status_at``: that column holds Meta's own timestamp from the payload.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import psycopg

from bench.background import BackgroundLoop
from bench.env import BenchEnv, server_names


async def _one(conninfo: str) -> list[tuple[str, float]]:
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        cur = await conn.execute(
            "SELECT external_message_id, extract(epoch FROM created_at)::float8 FROM chat_messages"
            " WHERE direction = 'inbound'"
            " UNION ALL SELECT external_message_id, extract(epoch FROM updated_at)::float8 FROM chat_messages"
            " WHERE direction = 'outbound' AND status <> 'sent'"
        )
        return [(r[0], r[1]) for r in await cur.fetchall()]


async def committed(env: BenchEnv, *, concurrency: int = 8) -> dict[str, float]:
    """Every event id found in the tenant databases -> its row timestamp (epoch seconds)."""
    semaphore = asyncio.Semaphore(concurrency)

    async def guarded(db: str) -> list[tuple[str, float]]:
        async with semaphore:
            return await _one(env.conninfo(db))

    rows = await asyncio.gather(*(guarded(t.db_name) for t in env.tenants))
    return {eid: ts for chunk in rows for eid, ts in chunk}


async def reset(env: BenchEnv) -> None:
    """Undo an earlier phase: inbound rows go, statuses go back to ``sent``."""
    for t in env.tenants:
        async with await psycopg.AsyncConnection.connect(env.conninfo(t.db_name)) as conn:
            await conn.execute("DELETE FROM chat_messages WHERE direction = 'inbound'")
            await conn.execute(
                "UPDATE chat_messages SET status = 'sent' WHERE direction = 'outbound' AND status <> 'sent'"
            )


@dataclass
class ConnectionSampler(BackgroundLoop):
    """Peak number of PostgreSQL connections to this run's databases: in all, and per server."""

    env: BenchEnv
    interval: float = 1.0
    peak: int = 0  # the largest sum over the servers in one sample
    peak_by_server: dict[str, int] = field(default_factory=dict)
    # Backends started on each server's run databases while sampling (pg_stat_database.sessions):
    # every one is a connection set up (fork, authentication, caches warmed) for the run.
    sessions_by_server: dict[str, int] = field(default_factory=dict)
    samples: list[int] = field(default_factory=list)

    def _loop(self) -> None:
        prefix = self.env.name.replace("_", r"\_") + "%"
        servers = server_names(self.env)
        conns = {name: psycopg.connect(url, autocommit=True) for name, url in servers.items()}
        try:
            start = {name: _sessions(conn, prefix) for name, conn in conns.items()}
            while not self._stop.wait(self.interval):
                total = 0
                for name, conn in conns.items():
                    row = conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE %s", (prefix,)
                    ).fetchone()
                    n = int(row[0]) if row else 0
                    self.peak_by_server[name] = max(self.peak_by_server.get(name, 0), n)
                    total += n
                self.samples.append(total)
                self.peak = max(self.peak, total)
            for name, conn in conns.items():
                self.sessions_by_server[name] = _sessions(conn, prefix) - start[name]
        finally:
            for conn in conns.values():
                conn.close()


def _sessions(conn: psycopg.Connection[Any], prefix: str) -> int:
    row = conn.execute(
        "SELECT coalesce(sum(sessions), 0) FROM pg_stat_database WHERE datname LIKE %s", (prefix,)
    ).fetchone()
    return int(row[0]) if row else 0
