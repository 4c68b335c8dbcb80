"""Alembic environment of the catalog database: runs only with a connection handed in by the runner."""

from __future__ import annotations

from alembic import context

from omni_common.db.catalog_models import CatalogBase

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("run migrations through omni_common.db.alembic_runner (omni migrate)")

context.configure(
    connection=connection,
    target_metadata=CatalogBase.metadata,
    compare_type=True,
    # One transaction for the whole upgrade: PostgreSQL DDL is transactional, so a failure
    # leaves the database exactly at its previous revision.
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
