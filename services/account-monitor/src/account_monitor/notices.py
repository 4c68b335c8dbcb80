"""What the monitor tells the owner, in plain words: a token about to expire, a subscription Meta
dropped (restored, or not). Each notice is a ``notifications`` row on the account; none names an
internal id (the account's name, else its number/Page as the owner knows it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omni_common.db.tenant_models import Notification
from omni_common.domain.channels import channel_name
from omni_common.domain.reauth import fix_hint
from omni_common.tenancy.token_expiry import TokenDecision

EXPIRING_KIND = "token_expiring"
RESTORED_KIND = "subscription_restored"
LOST_KIND = "subscription_lost"

CONTINUE = "Settings → Connected accounts → Continue with Facebook"

# What the owner can do about a token we cannot renew, by debug_token's type.
_NEXT_STEP = {
    "USER": f"Sign in again with {CONTINUE} before then.",
    "PAGE": f"Connect the Page again with {CONTINUE}: a Page connected that way keeps a token that "
    "does not expire.",
    "SYSTEM_USER": "Make a new token for the system user in Meta Business Settings and replace it in "
    "Settings → Connected accounts.",
}


@dataclass(frozen=True)
class AccountLabel:
    """How the owner knows an account: its channel and its name (or number, Page id as a last resort)."""

    id: uuid.UUID
    channel: str
    external_id: str
    name: str | None

    @property
    def label(self) -> str:
        return f"{channel_name(self.channel)} {self.name or self.external_id}"


def expiring_notice(
    account: AccountLabel, decision: TokenDecision, *, kind: str | None, refresh_failure: str | None
) -> Notification:
    """The 7-day or 1-day warning; ``refresh_failure``: why our own renewal did not work."""
    expires_at = decision.store_expires_at
    assert expires_at is not None
    assert decision.stage is not None
    left = decision.days_left or 0
    when = "within a day" if left <= 1 else f"in {left} days"
    body = f"The connection of {account.label} stops working on {expires_at:%A %d %B %Y at %H:%M} UTC. "
    if refresh_failure:
        body += f"We tried to renew it and Meta refused: {refresh_failure}. "
    body += _NEXT_STEP.get(
        kind or "", "Replace its access token in Settings → Connected accounts before then."
    )
    body += " Until then, messages keep arriving and replies keep going out."
    return Notification(
        kind=EXPIRING_KIND,
        severity="warning",
        title=f"{channel_name(account.channel)} connection expires {when}",
        body=body,
        social_account_id=account.id,
        data={
            "channel": account.channel,
            "account_id": account.external_id,
            "expires_at": expires_at.isoformat(),
            "stage": decision.stage,
            "refresh_failed": refresh_failure is not None,
            "fix": fix_hint(account.channel),
        },
    )


async def warned(session: AsyncSession, account_id: uuid.UUID, warn_days: int) -> set[tuple[datetime, int]]:
    """(expiry date, stage) pairs the owner was already warned about (resolved warnings count too).

    A warning from before the stages existed has no ``stage``: it was the first one (``warn_days``).
    """
    rows = (
        await session.execute(
            select(Notification.data).where(
                Notification.social_account_id == account_id, Notification.kind == EXPIRING_KIND
            )
        )
    ).scalars()
    found: set[tuple[datetime, int]] = set()
    for data in rows:
        value, stage = (data or {}).get("expires_at"), (data or {}).get("stage", warn_days)
        if isinstance(value, str) and isinstance(stage, int):
            try:
                found.add((datetime.fromisoformat(value), stage))
            except ValueError:
                continue
    return found


def restored_notice(account: AccountLabel, object_label: str, at: datetime) -> Notification:
    """Meta had dropped our subscription; the monitor subscribed again."""
    what = (
        "WhatsApp messages" if account.channel == "whatsapp" else f"{channel_name(account.channel)} messages"
    )
    return Notification(
        kind=RESTORED_KIND,
        severity="info",
        title=f"{channel_name(account.channel)} messages reconnected",
        body=f"Meta had stopped sending {what} of {object_label}; reconnected at {at:%H:%M} UTC on "
        f"{at:%d %B %Y}. Messages customers sent while it was stopped may not be in the inbox: check "
        "the app of the account for anything unanswered.",
        social_account_id=account.id,
        data={"channel": account.channel, "account_id": account.external_id, "at": at.isoformat()},
    )


def lost_notice(account: AccountLabel, object_label: str, reason: str) -> Notification:
    """Meta dropped our subscription and subscribing again failed."""
    return Notification(
        kind=LOST_KIND,
        severity="error",
        title=f"{channel_name(account.channel)} messages are not arriving",
        body=f"Meta stopped sending the messages of {object_label} to the inbox and reconnecting "
        f"failed: {reason}. Connect the account again with {CONTINUE}.",
        social_account_id=account.id,
        data={
            "channel": account.channel,
            "account_id": account.external_id,
            "fix": fix_hint(account.channel),
        },
    )


async def open_notice(session: AsyncSession, account_id: uuid.UUID, kind: str) -> bool:
    found = await session.scalar(
        select(Notification.id)
        .where(
            Notification.social_account_id == account_id,
            Notification.kind == kind,
            Notification.resolved_at.is_(None),
        )
        .limit(1)
    )
    return found is not None


async def resolve(session: AsyncSession, account_id: uuid.UUID, kind: str, at: datetime) -> None:
    """Resolve the account's open notices of ``kind`` (the thing they warned about is fixed)."""
    await session.execute(
        update(Notification)
        .where(
            Notification.social_account_id == account_id,
            Notification.kind == kind,
            Notification.resolved_at.is_(None),
        )
        .values(resolved_at=at)
    )
