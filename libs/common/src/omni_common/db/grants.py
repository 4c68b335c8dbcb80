"""Applying the privilege matrix (``db/privileges.py``): roles on a server, grants on a database.

Both are idempotent and run as the admin (the owner that migrates): ``omni migrate`` on every server
and database, tenant creation on the new database, ``omni tenant move`` on the copy,
``omni db-server add`` on the new server. A database's grants are rewritten whole in one transaction
(everything the services' roles held revoked, then the matrix granted), so a privilege taken out of
the matrix is gone after the next ``omni migrate`` and nobody ever sees a half-granted database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import Literal

import psycopg
import structlog
from psycopg import sql
from sqlalchemy.engine import URL

from omni_common.db.privileges import ROLES, SERVICES, Grant
from omni_common.dburl import database_name, libpq_conninfo

log = structlog.get_logger(__name__)

Scope = Literal["catalog", "tenant"]
# Transaction-level lock in the granted database: two runs granting at once would fail with "tuple
# concurrently updated" (parallel `omni migrate` runs, tests sharing a catalog).
GRANTS_LOCK_KEY = 0x6F6D6E69_67726E74  # "omnigrnt"


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = 4096) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier of ``password``: what ALTER ROLE is given instead of the
    password itself, so the clear text never reaches the server (nor its statement log)."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


async def _connect(url: str | URL, database: str | None = None) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(
        libpq_conninfo(url, database=database), autocommit=True, application_name="omni:grants"
    )


async def ensure_roles(
    url: str | URL, *, database: str | None = None, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Create the services' roles missing on the server at ``url`` (LOGIN, nothing else); set the
    password of each whose ``OMNI_DB_PASSWORD_<SERVICE>`` is set. The roles created."""
    env = os.environ if environ is None else environ
    created: list[str] = []
    conn = await _connect(url, database)
    try:
        cur = await conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (sorted(ROLES),))
        present = {r[0] for r in await cur.fetchall()}
        for access in SERVICES:
            role = sql.Identifier(access.role)
            if access.role not in present:
                try:
                    await conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
                    created.append(access.role)
                except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                    pass  # created meanwhile by a concurrent run: same outcome
            password = env.get(access.password_env)
            if password:
                verifier = sql.Literal(scram_verifier(password))
                await conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, verifier))
    finally:
        await conn.close()
    if created:
        log.info("db_roles_created", roles=created)
    return created


def _grant(grant: Grant, role: str) -> sql.Composed:
    privileges = sql.SQL(", ").join(sql.SQL(p) for p in grant.privileges)  # constants of privileges.py
    if grant.columns:
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in grant.columns)
        privileges = sql.Composed([privileges, sql.SQL(" ("), columns, sql.SQL(")")])
    return sql.SQL("GRANT {} ON TABLE {} TO {}").format(
        privileges, sql.Identifier(grant.table), sql.Identifier(role)
    )


def grant_statements(db_name: str, scope: Scope, tables: set[str] | None = None) -> list[sql.Composable]:
    """Everything the roles held on the database revoked, then the matrix of ``scope`` granted
    (only on ``tables``, when given: the tables the database has)."""
    everyone = sql.SQL(", ").join(sql.Identifier(r) for r in sorted(ROLES))
    db = sql.Identifier(db_name)
    out: list[sql.Composable] = [
        # PUBLIC may neither open the database nor create in it: only roles granted CONNECT below.
        sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC, {}").format(db, everyone),
        sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"),
        sql.SQL("REVOKE ALL ON SCHEMA public FROM {}").format(everyone),
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(everyone),
        sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {}").format(everyone),
    ]
    for access in SERVICES:
        grants = access.catalog if scope == "catalog" else access.tenant
        if not grants:
            continue
        role = sql.Identifier(access.role)
        out.append(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, role))
        out.append(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
        out.extend(_grant(g, access.role) for g in grants if tables is None or g.table in tables)
    return out


async def grant_database(url: str | URL, scope: Scope) -> None:
    """Apply the matrix of ``scope`` to the database ``url`` names (as its owner or a superuser);
    the roles must exist on its server (:func:`ensure_roles`)."""
    db_name = database_name(url)
    conn = await _connect(url)
    try:
        cur = await conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = {r[0] for r in await cur.fetchall()}
        wanted = {g.table for a in SERVICES for g in (a.catalog if scope == "catalog" else a.tenant)}
        if missing := sorted(wanted - tables):
            log.warning("db_grants_tables_missing", database=db_name, scope=scope, tables=missing)
        statements = grant_statements(db_name, scope, tables)
        async with conn.transaction():  # all or nothing: never a half-granted database
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (GRANTS_LOCK_KEY,))
            await conn.execute(sql.SQL("; ").join(statements))
    finally:
        await conn.close()
