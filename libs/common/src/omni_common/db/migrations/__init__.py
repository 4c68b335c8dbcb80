"""Alembic migrations (package so installs ship them)."""
