"""Initial catalog schema: tenants and channel_accounts (nothing else, ever).

Revision ID: c0001
Revises:
Create Date: 2026-11-25 13:18:23.683111
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0001"
down_revision = None
branch_labels = None
depends_on = None


# Routers cache account -> tenant lookups; these triggers tell them what changed (LISTEN
# omni_catalog_changed): "<channel>:<external account id>" for a mapping, "*" for a tenant status.
NOTIFY_FUNCTION = """
CREATE FUNCTION omni_catalog_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'channel_accounts' THEN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM pg_notify('omni_catalog_changed', OLD.channel || ':' || OLD.external_account_id);
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            PERFORM pg_notify('omni_catalog_changed', NEW.channel || ':' || NEW.external_account_id);
        END IF;
    ELSE
        PERFORM pg_notify('omni_catalog_changed', '*');
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("slug", sa.String(length=50), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("db_name", sa.String(length=63), nullable=False),
        sa.Column("db_url", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default=sa.text("'provisioning'"), nullable=False),
        sa.Column("schema_revision", sa.Text(), nullable=True),
        sa.Column("last_migration_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('provisioning', 'active', 'suspended', 'failed')", name=op.f("ck_tenants_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("db_name", name=op.f("uq_tenants_db_name")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenants_slug")),
    )
    op.create_table(
        "channel_accounts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("external_account_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "channel IN ('whatsapp', 'facebook', 'instagram')", name=op.f("ck_channel_accounts_channel")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_channel_accounts_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_accounts")),
        sa.UniqueConstraint(
            "channel", "external_account_id", name=op.f("uq_channel_accounts_channel_external_account_id")
        ),
    )
    op.create_index(op.f("ix_channel_accounts_tenant_id"), "channel_accounts", ["tenant_id"], unique=False)
    op.execute(NOTIFY_FUNCTION)
    op.execute(
        "CREATE TRIGGER channel_accounts_notify AFTER INSERT OR UPDATE OR DELETE ON channel_accounts "
        "FOR EACH ROW EXECUTE FUNCTION omni_catalog_notify()"
    )
    op.execute(
        "CREATE TRIGGER tenants_notify AFTER UPDATE OF status OR DELETE ON tenants "
        "FOR EACH ROW EXECUTE FUNCTION omni_catalog_notify()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER tenants_notify ON tenants")
    op.execute("DROP TRIGGER channel_accounts_notify ON channel_accounts")
    op.execute("DROP FUNCTION omni_catalog_notify()")
    op.drop_index(op.f("ix_channel_accounts_tenant_id"), table_name="channel_accounts")
    op.drop_table("channel_accounts")
    op.drop_table("tenants")
