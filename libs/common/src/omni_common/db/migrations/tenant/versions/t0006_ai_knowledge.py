"""AI knowledge as searchable rows, actions on drafts, per-tenant AI limits.

- ``unaccent`` and ``pg_trgm``: full-text search that ignores accents, trigram similarity for typos
  (both trusted extensions: the database owner may create them; the template gets them too, so
  every copied tenant database has them);
- ``assistant_knowledge``: the assistant document as rows with a ``tsvector`` (GIN index), rebuilt
  from the document on save, or by the suggester when ``knowledge_hash`` says it is stale (so
  databases migrated here are indexed on their first suggestion);
- ``suggestions`` records the action (suggest, rewrite, shorten, translate), the customer's
  language, the note shown to the owner and the model's prompt and completion tokens;
- ``assistant_settings`` holds the operator's per-tenant limits (NULL: the service's default).

Revision ID: t0006
Revises: t0005
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "t0006"
down_revision = "t0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "assistant_knowledge",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("language", sa.Text(), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("plain", sa.Text(), nullable=False),
        sa.Column("tsv", postgresql.TSVECTOR(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('faq', 'menu', 'hours', 'policy', 'address', 'phone')",
            name=op.f("ck_assistant_knowledge_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_knowledge")),
    )
    op.create_index(
        "ix_assistant_knowledge_tsv", "assistant_knowledge", ["tsv"], unique=False, postgresql_using="gin"
    )
    op.add_column("assistant_settings", sa.Column("knowledge_hash", sa.Text(), nullable=True))
    op.add_column("assistant_settings", sa.Column("suggestions_per_minute", sa.Integer(), nullable=True))
    op.add_column("assistant_settings", sa.Column("tokens_per_day", sa.BigInteger(), nullable=True))
    op.add_column(
        "suggestions", sa.Column("action", sa.Text(), server_default=sa.text("'suggest'"), nullable=False)
    )
    op.add_column("suggestions", sa.Column("language", sa.Text(), nullable=True))
    op.add_column("suggestions", sa.Column("note", sa.Text(), nullable=True))
    op.add_column(
        "suggestions", sa.Column("prompt_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column(
        "suggestions",
        sa.Column("completion_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_suggestions_action"),
        "suggestions",
        "action IN ('suggest', 'rewrite', 'shorten', 'translate')",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_suggestions_action"), "suggestions", type_="check")
    for column in ("completion_tokens", "prompt_tokens", "note", "language", "action"):
        op.drop_column("suggestions", column)
    for column in ("tokens_per_day", "suggestions_per_minute", "knowledge_hash"):
        op.drop_column("assistant_settings", column)
    op.drop_index("ix_assistant_knowledge_tsv", table_name="assistant_knowledge")
    op.drop_table("assistant_knowledge")
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")
    op.execute("DROP EXTENSION IF EXISTS unaccent")
