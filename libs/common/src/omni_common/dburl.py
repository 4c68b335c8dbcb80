"""Helpers for PostgreSQL URLs: driver selection and database names."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url


def async_url(url: str | URL, *, database: str | None = None) -> URL:
    """Return ``url`` with the psycopg 3 driver (async-capable) and optionally another database."""
    parsed = make_url(url) if isinstance(url, str) else url
    parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.set(database=database) if database else parsed


def libpq_conninfo(url: str | URL, *, database: str | None = None) -> str:
    """Return a libpq URI for psycopg's own ``connect`` (no SQLAlchemy driver suffix)."""
    parsed = async_url(url, database=database).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def database_name(url: str | URL) -> str:
    """The database part of ``url``."""
    parsed = make_url(url) if isinstance(url, str) else url
    if not parsed.database:
        raise ValueError("the database URL names no database")
    return parsed.database
