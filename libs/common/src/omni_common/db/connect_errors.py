"""How a failure to reach a tenant's database reads: a refusal that passes with time, or a move's trace.

Used by ``TenantEngineRegistry``: a refused connection is tried again for a while; a database made
read-only or gone because of a move makes the registry ask the catalog again (``TenantLookup.moved_since``).
"""

from __future__ import annotations

import psycopg

# Server-side refusals of a new connection that pass with time (SQLSTATE): too many connections,
# the server starting up or shutting down, out of resources, a database not accepting connections for
# a while (maintenance, a tenant move's cut-over). A refused TCP connect has no SQLSTATE.
_TRANSIENT_CONNECT = {"53300", "53000", "57P03", "57P01", "08006", "08001", "08004", "55000"}


# A move's traces, seen by a process that cached the tenant before it: the source made read-only
# (25006 read_only_sql_transaction), its session closed by the freeze (57P01 admin_shutdown, also a
# server's shutdown: the catalog tells them apart), or dropped after the switch (3D000).
_MOVED = {"25006", "57P01", "3D000"}
# How long a tenant being moved is cached (its writers check again this often for the move's end).
MOVING_RECHECK_S = 1.0


def moved(exc: BaseException) -> bool:
    """Whether ``exc`` may say the tenant's database is frozen or gone because of a move (the
    catalog decides: ``TenantLookup.moved_since``). libpq reports a missing database at connect time without
    its SQLSTATE, hence the message."""
    orig = getattr(exc, "orig", exc)
    if not isinstance(orig, psycopg.Error):
        return False
    if getattr(orig, "sqlstate", None) in _MOVED:
        return True
    text = str(orig)
    return isinstance(orig, psycopg.OperationalError) and "database" in text and "does not exist" in text


def connect_refused(exc: BaseException) -> bool:
    """Whether a failure to open a connection may pass if we wait (not a wrong password or database)."""
    orig = getattr(exc, "orig", exc)
    if not isinstance(orig, psycopg.OperationalError):
        return False
    state = getattr(orig, "sqlstate", None)
    return state is None or state in _TRANSIENT_CONNECT
