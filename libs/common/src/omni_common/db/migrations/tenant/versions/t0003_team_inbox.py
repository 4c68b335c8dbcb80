"""Team inbox: conversation state and assignment, labels, quick replies, private notes,
per-user read markers and the append-only audit trail.

Revision ID: t0003
Revises: t0002
Create Date: 2026-11-25 16:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "t0003"
down_revision = "t0002"
branch_labels = None
depends_on = None

_REOPEN = """
CREATE FUNCTION omni_chat_reopen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A customer writing again reopens a resolved or snoozed conversation. The WHERE keeps
    -- the common case (already open) free of any row lock.
    UPDATE chats SET state = 'open', snoozed_until = NULL, updated_at = now()
     WHERE id = NEW.chat_id AND state IN ('resolved', 'snoozed');
    RETURN NULL;
END $$;
CREATE TRIGGER chat_messages_reopen_chat AFTER INSERT ON chat_messages
    FOR EACH ROW WHEN (NEW.direction = 'inbound') EXECUTE FUNCTION omni_chat_reopen();
"""

_APPEND_ONLY = """
CREATE FUNCTION omni_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION omni_audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION omni_audit_append_only();
"""


def _uuid_pk() -> sa.Column[Any]:
    return sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False)


def _now(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)


def upgrade() -> None:
    op.add_column("chats", sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("chats", sa.Column("assignee_user_id", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_chats_assignee_user_id_users"),
        "chats",
        "users",
        ["assignee_user_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(op.f("ix_chats_assignee_user_id"), "chats", ["assignee_user_id"])
    op.create_check_constraint(
        op.f("ck_chats_state"), "chats", "state IN ('open', 'pending', 'resolved', 'snoozed')"
    )
    op.create_check_constraint(
        op.f("ck_chats_snooze_has_time"), "chats", "state <> 'snoozed' OR snoozed_until IS NOT NULL"
    )
    op.execute(_REOPEN)
    op.create_index(
        "ix_chat_messages_inbound_chat_id_created_at",
        "chat_messages",
        ["chat_id", "created_at"],
        postgresql_where=sa.text("direction = 'inbound'"),
    )

    op.create_table(
        "labels",
        _uuid_pk(),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("color", sa.Text(), server_default=sa.text("'#6b7280'"), nullable=False),
        _now("created_at"),
        sa.CheckConstraint("color ~ '^#[0-9a-f]{6}$'", name=op.f("ck_labels_color_hex")),
        sa.CheckConstraint("char_length(name) BETWEEN 1 AND 40", name=op.f("ck_labels_name_len")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labels")),
    )
    op.create_index("uq_labels_lower_name", "labels", [sa.text("lower(name)")], unique=True)

    op.create_table(
        "chat_labels",
        sa.Column("chat_id", sa.UUID(), nullable=False),
        sa.Column("label_id", sa.UUID(), nullable=False),
        sa.Column("added_by", sa.UUID(), nullable=True),
        _now("created_at"),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name=op.f("fk_chat_labels_chat_id_chats"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["label_id"], ["labels.id"], name=op.f("fk_chat_labels_label_id_labels"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["added_by"], ["users.id"], name=op.f("fk_chat_labels_added_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("chat_id", "label_id", name=op.f("pk_chat_labels")),
    )
    op.create_index(op.f("ix_chat_labels_label_id"), "chat_labels", ["label_id"])

    op.create_table(
        "quick_replies",
        _uuid_pk(),
        sa.Column("shortcut", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.UUID(), nullable=True),
        _now("created_at"),
        _now("updated_at"),
        sa.CheckConstraint(
            "shortcut ~ '^[a-z0-9][a-z0-9_-]{0,31}$'", name=op.f("ck_quick_replies_shortcut_format")
        ),
        sa.CheckConstraint("char_length(body) BETWEEN 1 AND 4096", name=op.f("ck_quick_replies_body_len")),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_quick_replies_updated_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quick_replies")),
        sa.UniqueConstraint("shortcut", name=op.f("uq_quick_replies_shortcut")),
    )

    op.create_table(
        "chat_notes",
        _uuid_pk(),
        sa.Column("chat_id", sa.UUID(), nullable=False),
        sa.Column("author_user_id", sa.UUID(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        _now("created_at"),
        sa.CheckConstraint("char_length(body) BETWEEN 1 AND 4096", name=op.f("ck_chat_notes_body_len")),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name=op.f("fk_chat_notes_chat_id_chats"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name=op.f("fk_chat_notes_author_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_notes")),
    )
    op.create_index("ix_chat_notes_chat_id_created_at", "chat_notes", ["chat_id", "created_at"])

    op.create_table(
        "chat_reads",
        sa.Column("chat_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("last_read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name=op.f("fk_chat_reads_chat_id_chats"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_chat_reads_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chat_id", "user_id", name=op.f("pk_chat_reads")),
    )
    op.create_index(op.f("ix_chat_reads_user_id"), "chat_reads", ["user_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        _now("at"),
        sa.Column("actor_user_id", sa.UUID(), nullable=True),
        sa.Column("actor_email", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target_type", sa.Text(), nullable=True),
        sa.Column("target_id", sa.Text(), nullable=True),
        sa.Column(
            "details", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.execute(_APPEND_ONLY)


def downgrade() -> None:
    op.execute("DROP TABLE audit_log")  # the triggers refuse a TRUNCATE, not a DROP
    op.execute("DROP FUNCTION omni_audit_append_only()")
    op.drop_table("chat_reads")
    op.drop_table("chat_notes")
    op.drop_table("quick_replies")
    op.drop_table("chat_labels")
    op.drop_table("labels")
    op.drop_index("ix_chat_messages_inbound_chat_id_created_at", table_name="chat_messages")
    op.execute("DROP TRIGGER chat_messages_reopen_chat ON chat_messages")
    op.execute("DROP FUNCTION omni_chat_reopen()")
    op.drop_constraint(op.f("ck_chats_snooze_has_time"), "chats", type_="check")
    op.drop_constraint(op.f("ck_chats_state"), "chats", type_="check")
    op.drop_index(op.f("ix_chats_assignee_user_id"), table_name="chats")
    op.drop_constraint(op.f("fk_chats_assignee_user_id_users"), "chats", type_="foreignkey")
    op.drop_column("chats", "assignee_user_id")
    op.drop_column("chats", "snoozed_until")
