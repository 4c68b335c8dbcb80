"""Run the catalog and tenant alembic trees from code (no alembic.ini; works from an installed package)."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import structlog
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from omni_common.dburl import async_url

log = structlog.get_logger(__name__)

Tree = Literal["catalog", "tenant"]
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Session-level advisory lock key taken in the migrated database itself (locks are per database),
# so two `omni migrate` runs never upgrade the same database at once.
MIGRATION_LOCK_KEY = 0x6F6D6E69_6D696772  # "omnimigr"
APPLICATION_NAME = "omni:migrate"
# alembic's `context` and `op` are module-level proxies, so two upgrades must never run in one
# process at the same time; concurrency comes from the (usual) no-op case, checked without alembic.
_ALEMBIC_LOCK = threading.Lock()


def make_config(
    tree: Tree, *, connection: Connection | None = None, extra_version_locations: Sequence[str] = ()
) -> Config:
    """An alembic Config for ``tree``; ``extra_version_locations`` lets tests add revisions."""
    cfg = Config()
    location = MIGRATIONS / tree
    cfg.set_main_option("script_location", str(location))
    versions = [str(location / "versions"), *extra_version_locations]
    cfg.set_main_option("version_locations", " ".join(versions))
    cfg.set_main_option("path_separator", "space")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.lru_cache(maxsize=32)
def _head(tree: Tree, extra: tuple[str, ...]) -> str:
    heads = ScriptDirectory.from_config(make_config(tree, extra_version_locations=extra)).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the {tree} migrations have {len(heads)} heads; merge them")
    return heads[0]


def head_revision(tree: Tree, extra_version_locations: Sequence[str] = ()) -> str:
    """The single head revision of ``tree`` (cached: scripts do not change while running)."""
    with _ALEMBIC_LOCK:
        return _head(tree, tuple(extra_version_locations))


def current_revision(connection: Connection) -> str | None:
    """The revision recorded in the database of ``connection`` (None: never migrated)."""
    if connection.scalar(text("SELECT to_regclass('alembic_version')")) is None:
        return None
    rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        raise RuntimeError(f"the database has several alembic heads: {rows}")
    return rows[0] if rows else None


def upgrade_sync(
    url: str | URL, tree: Tree, *, extra_version_locations: Sequence[str] = (), lock: bool = True
) -> str:
    """Upgrade the database at ``url`` to head under an advisory lock; returns its revision."""
    # NullPool: the connection is really closed afterwards (a template DB must have no sessions).
    engine = create_engine(
        async_url(url), poolclass=NullPool, connect_args={"application_name": APPLICATION_NAME}
    )
    try:
        with engine.connect() as conn:
            if lock:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
                conn.commit()  # the lock is session-level; end the implicit transaction
            head = head_revision(tree, extra_version_locations)
            revision = current_revision(conn)
            conn.rollback()
            if revision != head:
                cfg = make_config(tree, connection=conn, extra_version_locations=extra_version_locations)
                with _ALEMBIC_LOCK:
                    command.upgrade(cfg, "heads")
                conn.commit()
                revision = current_revision(conn)
                conn.rollback()
                log.info("database_upgraded", tree=tree, database=conn.engine.url.database, revision=revision)
    finally:
        engine.dispose()
    if revision is None:
        raise RuntimeError("upgrade finished without a revision")
    return revision


async def upgrade(
    url: str | URL, tree: Tree, *, extra_version_locations: Sequence[str] = (), lock: bool = True
) -> str:
    """Async wrapper of :func:`upgrade_sync` (alembic is synchronous; it runs in a worker thread)."""
    return await asyncio.to_thread(
        upgrade_sync, url, tree, extra_version_locations=extra_version_locations, lock=lock
    )
