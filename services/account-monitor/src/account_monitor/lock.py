"""One active monitor across replicas: a PostgreSQL session advisory lock in the catalog database.

The replica holding the lock keeps its own connection open (the lock lives as long as that session);
the others retry at every interval, so one takes over within an interval when the holder dies.
"""

from __future__ import annotations

import contextlib

import psycopg
import structlog

from omni_common.dburl import libpq_conninfo

log = structlog.get_logger(__name__)

# Arbitrary constant shared by every replica ("omni" + "acct" in ASCII, trimmed to bigint range).
LOCK_KEY = 0x6F6D6E6961636374


class LeaderLock:
    """``acquire`` is True while this process holds the lock (re-checked on every call)."""

    def __init__(self, database_url: str, key: int = LOCK_KEY) -> None:
        self._conninfo = libpq_conninfo(database_url)
        self._key = key
        self._conn: psycopg.AsyncConnection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    async def acquire(self) -> bool:
        if self._conn is not None:
            try:
                await self._conn.execute("SELECT 1")
                return True
            except psycopg.Error:  # our session died, and the lock with it
                log.warning("monitor_lock_lost")
                await self.release()
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, application_name="omni-account-monitor:lock"
            )
        except psycopg.Error as exc:
            log.warning("monitor_lock_unavailable", error=type(exc).__name__)
            return False
        row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,))).fetchone()
        if not row or not row[0]:
            await conn.close()
            return False
        self._conn = conn
        log.info("monitor_lock_acquired")
        return True

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(psycopg.Error):  # closing the session releases it anyway
            await conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        await conn.close()
