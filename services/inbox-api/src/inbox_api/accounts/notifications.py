"""The tenant's notifications: account problems and other notices for the owner."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.errors import NotFound
from omni_common.db.tenant_models import Notification, SocialAccount
from omni_common.domain.channels import channel_name


async def list_notifications(session: AsyncSession, *, open_only: bool) -> list[dict[str, Any]]:
    """The last 100 notices, newest first (only the unresolved ones with ``open_only``)."""
    stmt = (
        select(
            Notification,
            SocialAccount.platform,
            SocialAccount.external_account_id,
            SocialAccount.display_name,
        )
        .outerjoin(SocialAccount, SocialAccount.id == Notification.social_account_id)
        .order_by(Notification.created_at.desc())
        .limit(100)
    )
    if open_only:
        stmt = stmt.where(Notification.resolved_at.is_(None))
    return [
        {
            "id": str(n.id),
            "kind": n.kind,
            "severity": n.severity,
            "title": _named(n.title, channel, external_id, name),
            "body": _named(n.body, channel, external_id, name) if n.body else n.body,
            "social_account_id": str(n.social_account_id) if n.social_account_id else None,
            "created_at": n.created_at.isoformat(),
            "read_at": n.read_at.isoformat() if n.read_at else None,
            "resolved_at": n.resolved_at.isoformat() if n.resolved_at else None,
        }
        for n, channel, external_id, name in (await session.execute(stmt)).all()
    ]


def _named(text: str, channel: str | None, external_id: str | None, name: str | None) -> str:
    """A notice names the account as the owner knows it: its name, not Meta's long id (notices
    written before the account had a name, or by paths that only knew the id)."""
    if not external_id or external_id not in text:
        return text
    label = f"“{name}”" if name else f"your {channel_name(channel or '')} account"
    return text.replace(f"{external_id}", label)


async def mark_notification_read(session: AsyncSession, notification_id: uuid.UUID) -> None:
    """Mark a notice read (it stays listed until its problem is resolved); NotFound when there is none."""
    done = await session.execute(
        update(Notification)
        .where(Notification.id == notification_id)
        .values(read_at=datetime.now(UTC))
        .returning(Notification.id)
    )
    if done.first() is None:
        raise NotFound("no such notification")
