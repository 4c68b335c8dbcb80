"""Accounts: ``social_accounts.credentials_encrypted`` is named ``credentials`` (issue 20).

A rename keeps the bytes, and the AES-GCM associated data is ``(tenant_id, account id,
"credentials")`` (``omni_common.tenancy.accounts.CREDENTIALS_FIELD``): a fixed label, not the
column's name, so nothing is re-encrypted and every stored ciphertext decrypts after this revision
(and after the way back) as before it.

Revision ID: t0011
Revises: t0010
Create Date: 2026-12-07 03:30:00
"""

from __future__ import annotations

from alembic import op

revision = "t0011"
down_revision = "t0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("social_accounts", "credentials_encrypted", new_column_name="credentials")


def downgrade() -> None:
    op.alter_column("social_accounts", "credentials", new_column_name="credentials_encrypted")
