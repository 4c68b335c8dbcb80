"""The models and the migration trees describe the same schema (no drift between them)."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from inbox_support import SeededTenant, seed
from sqlalchemy import create_engine

from omni_common.db.catalog_models import CatalogBase
from omni_common.db.tenant_models import TenantBase
from omni_common.settings import Settings


def _diff(url: str, metadata) -> list[object]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), metadata))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"drift{uuid.uuid4().hex[:6]}")


@pytest.mark.parametrize("tree", ["catalog", "tenant"])
def test_models_match_migrations(settings: Settings, tenant: SeededTenant, tree: str) -> None:
    base = settings.database_url.rsplit("/", 1)[0]
    if tree == "catalog":
        assert _diff(settings.database_url, CatalogBase.metadata) == []
    else:
        assert _diff(f"{base}/{tenant.db_name}", TenantBase.metadata) == []
