"""Channel health: per connected account, its status, traffic and recent failures in plain words.

Owners and managers only, like every inbox route; each reads only the caller's tenant database.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.accounts.models import STATUS_LABEL
from inbox_api.rows import get_or_404
from omni_common.db.tenant_models import Chat, ChatMessage, SocialAccount
from omni_common.domain.channels import channel_name
from omni_common.graph import plain_reason_for_code
from omni_common.tenancy.token_expiry import DEFAULT_WARN_DAYS, expiry_warning

RECENT_FAILURES = 5
FAILURE_LOOKBACK = timedelta(days=7)
_STATUS_WORDS = {
    "active": "Working: messages arrive and replies are sent.",
    "disabled": "Disabled: incoming messages are not shown and nothing is sent.",
    "needs_reauth": "Needs reconnecting: Meta no longer accepts the access token, so replies cannot be "
    "sent. Incoming messages are still received.",
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def _failures(session: AsyncSession, account_id: uuid.UUID, now: datetime) -> list[dict[str, Any]]:
    rows = (
        await session.execute(
            select(
                ChatMessage.id,
                ChatMessage.chat_id,
                ChatMessage.error_code,
                ChatMessage.error_message,
                ChatMessage.status_at,
            )
            .join(Chat, Chat.id == ChatMessage.chat_id)
            .where(
                Chat.social_account_id == account_id,
                # Written into the SQL, not bound: a generic plan can then still use the partial
                # index of failed sends (t0005), whose condition must match the query's.
                ChatMessage.direction == literal("outbound", literal_execute=True),
                ChatMessage.status == literal("failed", literal_execute=True),
                ChatMessage.status_at >= now - FAILURE_LOOKBACK,
            )
            .order_by(ChatMessage.status_at.desc())
            .limit(RECENT_FAILURES)
        )
    ).all()
    return [
        {
            "message_id": str(r.id),
            "conversation_id": str(r.chat_id),
            "at": _iso(r.status_at),
            "code": r.error_code,
            "reason": plain_reason_for_code(r.error_code, r.error_message) or "the message was not sent",
        }
        for r in rows
    ]


async def account_health(
    session: AsyncSession, row: SocialAccount, now: datetime, warn_days: int = DEFAULT_WARN_DAYS
) -> dict[str, Any]:
    """The health panel of one account (no secret, not even the token's last characters)."""
    last_error = None
    if row.last_error_code or row.last_error_message:
        last_error = {
            "at": _iso(row.last_error_at),
            "code": row.last_error_code,
            "reason": plain_reason_for_code(row.last_error_code, row.last_error_message),
        }
    return {
        "id": str(row.id),
        "channel": row.platform,
        "channel_label": channel_name(row.platform),
        "external_account_id": row.external_account_id,
        "display_name": row.display_name,
        "status": row.status,
        "status_label": STATUS_LABEL.get(row.status, row.status),
        "status_text": _STATUS_WORDS.get(row.status, row.status),
        "last_webhook_at": _iso(row.last_webhook_at),
        "last_send_at": _iso(row.last_send_at),
        "token_expires_at": _iso(row.token_expires_at),
        "token_warning": expiry_warning(row.token_expires_at, now, warn_days),
        "last_error": last_error,
        "recent_failures": await _failures(session, row.id, now),
    }


async def account_health_by_id(session: AsyncSession, account_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    """The health panel of one account of this tenant; NotFound when there is none."""
    row = await get_or_404(session, SocialAccount, account_id, "no such account")
    return await account_health(session, row, now)


async def tenant_health(session: AsyncSession, now: datetime) -> list[dict[str, Any]]:
    """The health panel of every connected account of the tenant."""
    query = select(SocialAccount).order_by(SocialAccount.platform, SocialAccount.created_at)
    rows = (await session.execute(query)).scalars()
    return [await account_health(session, row, now) for row in list(rows)]
