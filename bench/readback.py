"""What reached the tenant databases, and when: the "committed row" end of end-to-end figures.

Inbound messages are stamped by ``created_at`` and applied statuses by ``updated_at`` (both
``now()`` of the normalizer's transaction, so a few ms before its commit). Statuses cannot use
``status_at``: that column holds Meta's own timestamp from the payload.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import psycopg

from bench.background import BackgroundLoop
from bench.env import BenchEnv


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
    """Peak number of PostgreSQL connections to this run's databases."""

    env: BenchEnv
    interval: float = 1.0
    peak: int = 0
    samples: list[int] = field(default_factory=list)

    def _loop(self) -> None:
        prefix = self.env.name.replace("_", r"\_") + "%"
        with psycopg.connect(self.env.conninfo(), autocommit=True) as conn:
            while not self._stop.wait(self.interval):
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE %s", (prefix,)
                ).fetchone()
                n = int(row[0]) if row else 0
                self.samples.append(n)
                self.peak = max(self.peak, n)
