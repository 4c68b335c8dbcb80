"""A customer's reaction or deletion does not reopen a resolved or snoozed conversation.

The reopen trigger of t0003 fired on every inbound row; a reaction (a thumbs-up on "see you at 8")
is not a new request, and neither is the placeholder row of a message the customer deleted before it
arrived, so both leave the conversation's state alone. (The normalizer stores reactions
through ``store_reaction``, which does not bump the chat, so the trigger was the only path.)

Revision ID: t0004
Revises: t0003
Create Date: 2026-11-25 22:00:00
"""

from __future__ import annotations

from alembic import op

revision = "t0004"
down_revision = "t0003"
branch_labels = None
depends_on = None


def _trigger(when: str) -> str:
    return (
        "CREATE TRIGGER chat_messages_reopen_chat AFTER INSERT ON chat_messages "
        f"FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION omni_chat_reopen()"
    )


def upgrade() -> None:
    op.execute("DROP TRIGGER chat_messages_reopen_chat ON chat_messages")
    op.execute(_trigger("NEW.direction = 'inbound' AND NEW.kind NOT IN ('reaction', 'deleted')"))


def downgrade() -> None:
    op.execute("DROP TRIGGER chat_messages_reopen_chat ON chat_messages")
    op.execute(_trigger("NEW.direction = 'inbound'"))
