"""Failures of the database itself (not of a statement): what callers wait out, retry or answer 503 to.

A full or unreachable server (``DatabaseUnavailable`` from the registry), a connection lost
mid-statement (psycopg's ``OperationalError``, wrapped by SQLAlchemy in a ``DBAPIError``). A bad
statement or a constraint is not among them: those are bugs or refusals, never retried blindly.
"""

from __future__ import annotations

import psycopg
from sqlalchemy.exc import OperationalError

from omni_common.errors import DatabaseUnavailable

DATABASE_TROUBLE: tuple[type[Exception], ...] = (
    DatabaseUnavailable,
    OperationalError,
    psycopg.OperationalError,
)
