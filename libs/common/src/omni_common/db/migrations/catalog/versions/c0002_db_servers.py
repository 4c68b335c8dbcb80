"""Database servers: where each tenant's database lives, and tenant moves between them.

``db_servers`` lists the PostgreSQL servers tenant databases may live on; the catalog's own server
is the first entry, ``main``, with no URL (each process reaches it through its own
``OMNI_DATABASE_URL``). A server's URL never holds a password: ``password_env`` names the
environment variable that does (or NULL: libpq's own ways, ``PGPASSFILE``/``.pgpass`` or trust).
``tenants.server`` says where each tenant's database is. ``tenant_moves`` records a move in
progress (one per tenant): while a row exists, the tenant's writers hold its events.

Revision ID: c0002_db_servers
Revises: c0001
Create Date: 2026-12-07 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0002_db_servers"
down_revision = "c0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "db_servers",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("password_env", sa.Text(), nullable=True),
        sa.Column("max_tenants", sa.Integer(), nullable=True),
        sa.Column("max_connections", sa.Integer(), nullable=True),
        sa.Column("state", sa.Text(), server_default=sa.text("'active'"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("state IN ('active', 'draining', 'full')", name=op.f("ck_db_servers_state")),
        sa.CheckConstraint("max_tenants IS NULL OR max_tenants >= 0", name=op.f("ck_db_servers_max_tenants")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_db_servers")),
    )
    op.execute("INSERT INTO db_servers (name) VALUES ('main')")
    op.add_column(
        "tenants",
        sa.Column("server", sa.String(length=40), server_default=sa.text("'main'"), nullable=False),
    )
    op.create_foreign_key(
        op.f("fk_tenants_server_db_servers"),
        "tenants",
        "db_servers",
        ["server"],
        ["name"],
        ondelete="RESTRICT",
    )
    op.create_index(op.f("ix_tenants_server"), "tenants", ["server"], unique=False)
    op.create_table(
        "tenant_moves",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=40), nullable=False),
        sa.Column("step", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_moves_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["source"], ["db_servers.name"], name=op.f("fk_tenant_moves_source_db_servers")
        ),
        sa.ForeignKeyConstraint(
            ["target"], ["db_servers.name"], name=op.f("fk_tenant_moves_target_db_servers")
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_moves")),
    )


def downgrade() -> None:
    op.drop_table("tenant_moves")
    op.drop_index(op.f("ix_tenants_server"), table_name="tenants")
    op.drop_constraint(op.f("fk_tenants_server_db_servers"), "tenants", type_="foreignkey")
    op.drop_column("tenants", "server")
    op.drop_table("db_servers")
