"""An index of failed outbound messages by time, for the channel-health panel's recent failures.

The panel asked for an account's failures of the last days with no index to use: PostgreSQL read
every message of the tenant (tests/integration/test_inbox_plans.py found it on 20,000 messages).
The index is partial, so it holds only failed sends and costs nothing on the inbound write path.
Building it reads the table once while writes to it wait (about a second per million messages); the
normalizer's writes retry meanwhile.

Revision ID: t0005
Revises: t0004
Create Date: 2026-11-26 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "t0005"
down_revision = "t0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_chat_messages_failed_status_at",
        "chat_messages",
        ["status_at"],
        postgresql_where=sa.text("direction = 'outbound' AND status = 'failed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_chat_messages_failed_status_at", table_name="chat_messages")
