"""Alerts: Web Push keys and subscriptions, and the customer-facing signals switches.

- ``push_keys``: the tenant's VAPID key pair (one row); the private key AES-GCM encrypted like
  account credentials. Made at tenant creation, or on first use for older tenants.
- ``push_subscriptions``: one row per browser/phone of a user that allowed alerts (endpoint unique).
- ``push_claims``: one row per message pushed, so one inbox replica pushes it (all of them hear it).
- ``inbox_signals``: per tenant, whether read receipts and "typing…" go to WhatsApp customers
  (one row; a missing row means both on).
- ``customer_signals``: per conversation, the customer's message last marked read on WhatsApp (so
  opening a conversation again sends no second receipt) and when "typing…" last went (at most one
  per 20 s, whichever replica or browser tab asks).

Revision ID: t0010
Revises: t0009
Create Date: 2026-12-07 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "t0010"
down_revision = "t0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_keys",
        sa.Column("id", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("private_key_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_push_keys_single")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_keys")),
    )
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("p256dh", sa.Text(), nullable=False),
        sa.Column("auth", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_push_subscriptions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
        sa.UniqueConstraint("endpoint", name=op.f("uq_push_subscriptions_endpoint")),
    )
    op.create_index(op.f("ix_push_subscriptions_user_id"), "push_subscriptions", ["user_id"], unique=False)
    op.create_table(
        "push_claims",
        sa.Column("message_id", postgresql.UUID(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_push_claims")),
    )
    op.create_table(
        "inbox_signals",
        sa.Column("id", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column("read_receipts", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("typing_indicator", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_inbox_signals_single")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_signals")),
    )
    op.create_table(
        "customer_signals",
        sa.Column("chat_id", sa.UUID(), nullable=False),
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("typing_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name=op.f("fk_customer_signals_chat_id_chats"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_customer_signals")),
    )


def downgrade() -> None:
    op.drop_table("customer_signals")
    op.drop_table("inbox_signals")
    op.drop_table("push_claims")
    op.drop_index(op.f("ix_push_subscriptions_user_id"), table_name="push_subscriptions")
    op.drop_table("push_subscriptions")
    op.drop_table("push_keys")
