"""People and plain words (issue 18).

One person behind several contacts: the owner links a customer's WhatsApp and Instagram contacts
(say) so the customer panel shows their other conversations. Contacts sharing a ``person_id`` are one
person; NULL is a contact on its own.

A failed reply sent again ("Retry") is a new message; ``chat_messages.resent_as`` on the failed one
points at it, so it is sent again once and the page says so. Both columns are nullable without a
default: no table rewrite.

Revision ID: t0008
Revises: t0007
Create Date: 2026-12-07 02:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "t0008"
down_revision = "t0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contacts", sa.Column("person_id", postgresql.UUID(as_uuid=True), nullable=True))
    op.create_index("ix_contacts_person_id", "contacts", ["person_id"])
    op.add_column("chat_messages", sa.Column("resent_as", postgresql.UUID(as_uuid=True), nullable=True))


def downgrade() -> None:
    op.drop_column("chat_messages", "resent_as")
    op.drop_index("ix_contacts_person_id", table_name="contacts")
    op.drop_column("contacts", "person_id")
