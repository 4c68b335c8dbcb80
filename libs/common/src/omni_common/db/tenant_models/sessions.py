"""Sign-in sessions of the inbox, kept server-side so they can end (issue 23).

A session token stays a signed value in the browser's cookie (or a bearer header), but it only
names a row here: every request checks the row, so logout, a password or role change, deactivation
and "sign out everywhere" take effect on the next request, on every replica.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from omni_common.db.tenant_models.base import TenantBase, created, ts


class UserSession(TenantBase):
    """One signed-in browser or API client of a user; ended by setting ``ended_at``."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_live", "user_id", postgresql_where=text("ended_at IS NULL")),)

    # The token's random ``sid``: not a secret on its own (the token is HMAC-signed), the row's key.
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[datetime] = created()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_seen_at: Mapped[datetime | None] = ts()
    ended_at: Mapped[datetime | None] = ts()
    ended_reason: Mapped[str | None] = mapped_column(Text)
    # What the owner sees in the list of sessions ("Chrome on Android", from the user agent).
    device: Mapped[str | None] = mapped_column(Text)
