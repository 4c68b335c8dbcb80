"""WhatsApp templates, template and file sends, and the human-agent tag.

- ``wa_templates``: each WABA's templates as Meta lists them (name, language, status, components),
  unique per (WABA, name, language); ``wa_template_syncs``: when each WABA was last fetched;
- ``chat_messages.template``: a template send's name, language, parameters and Meta components (its
  ``text`` is the rendered text, as the customer reads it);
- ``social_accounts.human_agent_enabled``: Messenger/Instagram replies up to 7 days as HUMAN_AGENT.

Only new tables and nullable/defaulted columns: no rewrite of existing rows.

Revision ID: t0007
Revises: t0006
Create Date: 2026-12-07 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "t0007"
down_revision = "t0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wa_templates",
        sa.Column(
            "id", postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()"), nullable=False
        ),
        sa.Column("waba_id", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("language", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("parameter_format", sa.Text(), server_default=sa.text("'POSITIONAL'"), nullable=False),
        sa.Column("components", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wa_templates")),
        sa.UniqueConstraint(
            "waba_id", "name", "language", name=op.f("uq_wa_templates_waba_id_name_language")
        ),
    )
    op.create_index("ix_wa_templates_waba_id_status", "wa_templates", ["waba_id", "status"])
    op.create_table(
        "wa_template_syncs",
        sa.Column("waba_id", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("template_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("waba_id", name=op.f("pk_wa_template_syncs")),
    )
    op.add_column(
        "chat_messages", sa.Column("template", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.add_column(
        "social_accounts",
        sa.Column("human_agent_enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("social_accounts", "human_agent_enabled")
    op.drop_column("chat_messages", "template")
    op.drop_table("wa_template_syncs")
    op.drop_index("ix_wa_templates_waba_id_status", table_name="wa_templates")
    op.drop_table("wa_templates")
