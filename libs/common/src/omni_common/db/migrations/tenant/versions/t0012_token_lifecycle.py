"""Accounts: what the account-monitor's token lifecycle remembers (issue 20, item 4).

``token_kind`` is ``debug_token``'s type (USER tokens are renewed with ``fb_exchange_token``);
``token_refresh_tried_at`` / ``token_refreshed_at`` pace the renewals (Meta extends a token at most
once a day); ``subscription_checked_at`` paces the ``subscribed_apps`` checks. All nullable, no
backfill: the monitor fills them on its next pass.

Revision ID: t0012
Revises: t0011
Create Date: 2026-12-07 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "t0012"
down_revision = "t0011"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("social_accounts", sa.Column("token_kind", sa.Text(), nullable=True))
    op.add_column("social_accounts", sa.Column("token_refresh_tried_at", _TS, nullable=True))
    op.add_column("social_accounts", sa.Column("token_refreshed_at", _TS, nullable=True))
    op.add_column("social_accounts", sa.Column("subscription_checked_at", _TS, nullable=True))


def downgrade() -> None:
    for column in ("subscription_checked_at", "token_refreshed_at", "token_refresh_tried_at", "token_kind"):
        op.drop_column("social_accounts", column)
