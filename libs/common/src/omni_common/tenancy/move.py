"""``omni tenant move SLUG --to SERVER``: a tenant's database to another server, re-runnable at any step.

Dump and restore (``pg_dump -Fc | pg_restore``) with the tenant's writes held, not logical
replication: a tenant database is small (megabytes to a few GB: seconds to a minute of copy), and
replication would need ``wal_level = logical`` on every source server (a restart), a publication,
a subscription and a slot to clean up after a crash, and still a pause for the cut-over; the hold
costs the tenant's events a short wait in RabbitMQ and nothing else. The steps, each recorded in
``tenant_moves.step`` so a re-run (after kill -9 anywhere) resumes where it stopped:

1. ``hold``: the move row exists; every registry sees ``moving`` within its catalog cache time, and
   from then on writers (normalizer, sender, ai, monitor) hold the tenant's events: back to their
   delay queue, attempts not counted (``TenantHeld``). Readers (the inbox) go on reading the source.
2. ``frozen``: the source database is read-only for new sessions and the sessions opened before are
   closed once idle (a reader finishing its query is let finish): nothing can write it any more.
3. ``copied``: the target database is dropped if a crashed run left one, created, and restored from
   a dump of the source (frozen: the dump is the tenant's final state), without its grants: the
   services' roles are ensured on the target and the privilege matrix granted there afresh.
4. ``verified``: row counts of every table and the latest message id are equal on both sides.
5. ``switched``: the catalog points the tenant at the target (one transaction); the hold goes on.
6. ``done``: the hold ends (writers resume on the target). The source stays, read-only.
7. with ``--drop-source``: the source database is dropped (after a catalog cache time, so no
   reader still uses it) and the move row deleted.

Before ``switched``, ``--abort`` rolls back: the source writable again, the target dropped, the hold
lifted. Nothing is lost (writes wait in RabbitMQ, the source is never written after the freeze) and
nothing is written twice (the target is a copy of a frozen source; held events are written once,
after the switch, keyed on their platform ids as always).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from psycopg import sql
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import URL

from omni_common.db.catalog import Catalog, TenantRecord
from omni_common.db.catalog_models import Tenant, TenantMove
from omni_common.db.grants import ensure_roles, grant_database
from omni_common.db.servers import ServerRecord, server_admin_url, tenant_url
from omni_common.dburl import libpq_conninfo
from omni_common.errors import TenantError
from omni_common.tenancy.provisioning import admin_connect, database_exists

log = structlog.get_logger(__name__)

STEPS = ("hold", "frozen", "copied", "verified", "switched", "done")
# Longest wait for the source's busy sessions (opened before the freeze) to finish their statement.
BUSY_WAIT_S = 10.0
OnStep = Callable[[str], None]


class MoveError(TenantError):
    """The move cannot go on (wrong target, copy differs, a move elsewhere under way)."""


@dataclass(frozen=True)
class MoveState:
    """A ``tenant_moves`` row."""

    source: str
    target: str
    step: str


@dataclass
class Mover:
    """Moves tenants between the catalog's servers; ``catalog_url`` as the services reach it.

    ``settle_s``: how long every process may go on using what it read from the catalog; the services'
    registries cache a tenant's row for 5 s (``registry_for``), so the default leaves a margin.
    """

    catalog: Catalog
    catalog_url: str | URL
    settle_s: float = 7.0
    on_step: OnStep | None = None

    # -- the catalog's record of the move ------------------------------------------------------

    async def state(self, tenant_id: Any) -> MoveState | None:
        async with self.catalog.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(TenantMove.source, TenantMove.target, TenantMove.step).where(
                        TenantMove.tenant_id == tenant_id
                    )
                )
            ).first()
        return MoveState(row[0], row[1], row[2]) if row else None

    async def _step(self, tenant_id: Any, step: str) -> None:
        async with self.catalog.engine.begin() as conn:
            await conn.execute(
                update(TenantMove)
                .where(TenantMove.tenant_id == tenant_id)
                .values(step=step, updated_at=func.now())
            )
        self._done(step)

    def _done(self, step: str) -> None:
        log.info("tenant_move_step", step=step)
        if self.on_step is not None:
            self.on_step(step)

    # -- the move ------------------------------------------------------------------------------

    async def move(self, slug: str, target: str, *, drop_source: bool = False) -> MoveState:
        """Move (or finish moving) tenant ``slug`` to server ``target``; the final state."""
        tenant, servers = await self._tenant_and_servers(slug)
        if target not in servers:
            raise MoveError(f"no database server {target!r} (see `omni db-server list`)")
        state = await self.state(tenant.id)
        if state is not None and state.step != "done" and state.target != target:
            raise MoveError(
                f"a move of {slug} to {state.target} is under way: finish it (--to {state.target}) "
                "or roll it back (--abort)"
            )
        if state is None or state.step == "done":
            if tenant.server == target:
                if drop_source and state is not None:
                    await self._drop_source(tenant, servers[state.source])
                    return MoveState(state.source, target, "dropped")
                return state or MoveState(target, target, "done")
            if tenant.status != "active":
                raise MoveError(f"tenant {slug} is {tenant.status}: only an active tenant moves")
            await self._start(tenant, target)
            state = MoveState(tenant.server, target, "hold")
        bound = log.bind(tenant_id=str(tenant.id), slug=slug, source=state.source, target=target)
        with structlog.contextvars.bound_contextvars(tenant_id=str(tenant.id)):
            source, dest = servers[state.source], servers[target]
            step = state.step
            if step == "hold":
                await asyncio.sleep(self.settle_s)  # every process now holds the tenant's writes
                await self._freeze(tenant, source)
                await self._step(tenant.id, step := "frozen")
            if step in ("frozen", "copied", "verified"):
                if step == "frozen":
                    await self._copy(tenant, source, dest)
                    await self._step(tenant.id, step := "copied")
                await self._verify(tenant, source, dest)  # again on a re-run: cheap, and decisive
                await self._step(tenant.id, step := "verified")
                await self._switch(tenant.id, target)
                step = "switched"
            if step == "switched":
                await self._step(tenant.id, step := "done")
            bound.info("tenant_moved")
            if drop_source:
                await self._drop_source(tenant, source)
                return MoveState(state.source, target, "dropped")
        return MoveState(state.source, target, "done")

    async def abort(self, slug: str) -> MoveState | None:
        """Roll back a move not yet switched: source writable, target dropped, hold lifted."""
        tenant, servers = await self._tenant_and_servers(slug)
        state = await self.state(tenant.id)
        if state is None or state.step == "done":
            return None
        if state.step == "switched":
            raise MoveError(f"{slug} is already on {state.target}: finish the move (--to {state.target})")
        await self._unfreeze(tenant, servers[state.source])
        await self._drop(servers[state.target], tenant.db_name)
        async with self.catalog.engine.begin() as conn:
            await conn.execute(delete(TenantMove).where(TenantMove.tenant_id == tenant.id))
        log.info("tenant_move_aborted", tenant_id=str(tenant.id), target=state.target)
        return state

    async def _tenant_and_servers(self, slug: str) -> tuple[TenantRecord, dict[str, ServerRecord]]:
        tenant = await self.catalog.get_tenant_by_slug(slug)
        if tenant is None:
            raise MoveError(f"no tenant {slug!r}")
        if tenant.db_url:
            raise MoveError(f"tenant {slug} has a legacy db_url; move it by hand")
        return tenant, {s.name: s for s in await self.catalog.list_servers()}

    async def _start(self, tenant: TenantRecord, target: str) -> None:
        previous = await self.state(tenant.id)
        # A finished move whose source was kept is forgotten now (unless we go back there: the copy
        # step replaces that old database).
        if previous is not None and previous.source != target:
            log.warning(
                "tenant_move_old_source_kept", tenant_id=str(tenant.id), server=previous.source,
                database=tenant.db_name,
            )  # fmt: skip
        async with self.catalog.engine.begin() as conn:
            await conn.execute(delete(TenantMove).where(TenantMove.tenant_id == tenant.id))  # an old 'done'
            await conn.execute(
                insert(TenantMove)
                .values(tenant_id=tenant.id, source=tenant.server, target=target, step="hold")
                .on_conflict_do_nothing(index_elements=["tenant_id"])
            )
        self._done("hold")

    async def _switch(self, tenant_id: Any, target: str) -> None:
        """The cut-over: the tenant's server and the move's step change together, or neither."""
        async with self.catalog.engine.begin() as conn:
            await conn.execute(
                update(Tenant)
                .where(Tenant.id == tenant_id)
                .values(server=target, db_url=None, updated_at=func.now())
            )
            await conn.execute(
                update(TenantMove)
                .where(TenantMove.tenant_id == tenant_id)
                .values(step="switched", updated_at=func.now())
            )
        self._done("switched")

    # -- the databases -------------------------------------------------------------------------

    def _admin(self, server: ServerRecord) -> URL:
        return server_admin_url(self.catalog_url, server)

    def _db_url(self, tenant: TenantRecord, server: ServerRecord) -> URL:
        on_server = TenantRecord(
            **{
                **tenant.__dict__,
                "server": server.name,
                "server_url": server.url,
                "server_password_env": server.password_env,
            }
        )
        return tenant_url(self.catalog_url, on_server)

    async def _freeze(self, tenant: TenantRecord, source: ServerRecord) -> None:
        """Read-only for new sessions; the older ones closed once idle (at most BUSY_WAIT_S)."""
        conn = await admin_connect(self._admin(source), self._admin(source).database or "postgres")
        try:
            name = sql.Identifier(tenant.db_name)
            await conn.execute(
                sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(name)
            )
            cur = await conn.execute("SELECT now()")
            row = await cur.fetchone()
            frozen_at = row[0] if row else None
            deadline = asyncio.get_running_loop().time() + BUSY_WAIT_S
            while True:
                force = asyncio.get_running_loop().time() > deadline
                older = "datname = %s AND backend_start < %s AND pid <> pg_backend_pid()"
                await conn.execute(
                    f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {older}"
                    " AND (%s OR state <> 'active')",
                    (tenant.db_name, frozen_at, force),
                )
                # Every session from before the freeze must be gone, not only the active ones: one
                # that finished a statement between the two queries is "idle in transaction" and
                # could still commit a write after the copy (found by the whole suite under load).
                cur = await conn.execute(
                    f"SELECT count(*) FROM pg_stat_activity WHERE {older}", (tenant.db_name, frozen_at)
                )
                busy = await cur.fetchone()
                if busy is None or busy[0] == 0:
                    break
                await asyncio.sleep(0.1)
        finally:
            await conn.close()

    async def _unfreeze(self, tenant: TenantRecord, source: ServerRecord) -> None:
        conn = await admin_connect(self._admin(source), self._admin(source).database or "postgres")
        try:
            if await database_exists(conn, tenant.db_name):
                await conn.execute(
                    sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only").format(
                        sql.Identifier(tenant.db_name)
                    )
                )
        finally:
            await conn.close()

    async def _drop(self, server: ServerRecord, db_name: str) -> None:
        conn = await admin_connect(self._admin(server), self._admin(server).database or "postgres")
        try:
            await conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_name))
            )
        finally:
            await conn.close()

    async def _copy(self, tenant: TenantRecord, source: ServerRecord, dest: ServerRecord) -> None:
        """Target dropped (a crashed run's partial copy), created empty, restored from the source."""
        await self._drop(dest, tenant.db_name)
        conn = await admin_connect(self._admin(dest), self._admin(dest).database or "postgres")
        try:
            await conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(tenant.db_name))
            )
        finally:
            await conn.close()
        src_uri, src_env = _libpq(self._db_url(tenant, source))
        dst_uri, dst_env = _libpq(self._db_url(tenant, dest))
        read, write = os.pipe()  # pg_dump | pg_restore, nothing on disk
        try:
            dump = await asyncio.create_subprocess_exec(
                "pg_dump", "--format=custom", "--no-owner", "--no-acl", "--dbname", src_uri,
                stdout=write, stderr=asyncio.subprocess.PIPE, env=src_env,
            )  # fmt: skip
            restore = await asyncio.create_subprocess_exec(
                "pg_restore", "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction",
                "--dbname", dst_uri, stdin=read, stderr=asyncio.subprocess.PIPE, env=dst_env,
            )  # fmt: skip
        finally:
            os.close(read)
            os.close(write)
        _, dump_err = await dump.communicate()
        _, restore_err = await restore.communicate()
        if dump.returncode or restore.returncode:
            detail = (dump_err or b"").decode(errors="replace") + (restore_err or b"").decode(
                errors="replace"
            )
            raise MoveError(
                f"copy failed (pg_dump {dump.returncode}, pg_restore {restore.returncode}): {detail[:500]}"
            )
        admin = self._admin(dest)
        await ensure_roles(admin)
        await grant_database(self._db_url(tenant, dest), "tenant")

    async def _verify(self, tenant: TenantRecord, source: ServerRecord, dest: ServerRecord) -> None:
        """Row counts of every table and the latest message id equal on both sides, else MoveError."""
        here = await _fingerprint(self._db_url(tenant, source))
        there = await _fingerprint(self._db_url(tenant, dest))
        if here != there:
            diff = {
                k: (here.get(k), there.get(k))
                for k in here.keys() | there.keys()
                if here.get(k) != there.get(k)
            }
            raise MoveError(f"the copy differs from the source: {diff}")
        log.info("tenant_move_verified", tables=len(here) - 1, latest_message=here.get("latest_message_id"))

    async def _drop_source(self, tenant: TenantRecord, source: ServerRecord) -> None:
        """After the check: drop the source once no process can still read it; forget the move."""
        await asyncio.sleep(self.settle_s)  # a reader that cached the old server is done with it
        await self._drop(source, tenant.db_name)
        async with self.catalog.engine.begin() as conn:
            await conn.execute(delete(TenantMove).where(TenantMove.tenant_id == tenant.id))
        self._done("dropped")


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password (kept out of ``ps``), and the environment passing it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    bare = URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    return libpq_conninfo(bare), env


async def _fingerprint(url: URL) -> dict[str, Any]:
    """Rows per table (exact counts) and the latest message's id, of the database at ``url``."""
    async with await psycopg.AsyncConnection.connect(libpq_conninfo(url), autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(relname) FROM pg_stat_user_tables"
            " ORDER BY 1"
        )
        tables = [r[0] for r in await cur.fetchall()]
        out: dict[str, Any] = {}
        for table in tables:  # names from the server's own catalog
            cur = await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.SQL(table)))
            row = await cur.fetchone()
            out[table] = row[0] if row else None
        cur = await conn.execute("SELECT id FROM chat_messages ORDER BY created_at DESC, id DESC LIMIT 1")
        row = await cur.fetchone()
        out["latest_message_id"] = str(row[0]) if row else None
    return out
