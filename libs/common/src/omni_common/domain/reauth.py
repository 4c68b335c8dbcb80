"""Flagging an account "needs re-authorisation": the owner's notice and the live events, decided once.

Four paths flag an account (the sender on Meta's 190, the account-monitor's ``debug_token`` pass, the
inbox's "Test connection", the demo); each writes through ``omni_common.tenancy.accounts.flag_needs_reauth``,
which uses these pure pieces so every path tells the owner the same thing, once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from omni_common.domain.channels import channel_name

EXPIRED_KIND = "token_expired"


def fix_hint(channel: str) -> str:
    """Where the owner repairs it."""
    return (
        "Settings → Connected accounts → Replace token, or "
        f"`omni account connect <tenant> {channel} ... --token NEW_TOKEN`"
    )


@dataclass(frozen=True)
class Notice:
    """An owner notification, as the ``notifications`` table stores it."""

    kind: str
    severity: str
    title: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)


def reauth_notice(
    channel: str, account_label: str, why: str, *, code: str | int | None = None, fix: str | None = None
) -> Notice:
    """The one notice an owner gets when Meta stops accepting an account's token.

    ``account_label``: the account as the owner knows it (its name, else its id); ``why``: Meta's
    reason in its own words.
    """
    data: dict[str, Any] = {"channel": channel, "fix": fix or fix_hint(channel)}
    if code is not None:
        data["code"] = code
    return Notice(
        kind=EXPIRED_KIND,
        severity="error",
        title=f"{channel_name(channel)} connection needs attention",
        body=(
            f"Meta no longer accepts the access token of {account_label} ({why}). Replies through it "
            "cannot be sent until the owner reconnects it; incoming messages are still stored."
        ),
        data=data,
    )


@dataclass(frozen=True)
class LiveEvent:
    """A change live inboxes should hear about (kind and data of a ``NotificationEvent``)."""

    kind: Literal["account.status", "notification"]
    data: dict[str, Any]


def reauth_events(
    channel: str, external_account_id: str, notification_id: uuid.UUID | None
) -> list[LiveEvent]:
    """What to announce after the flag is committed: the account's status, and the notice if new."""
    events = [
        LiveEvent(
            "account.status",
            {"account_id": external_account_id, "channel": channel, "status": "needs_reauth"},
        )
    ]
    if notification_id is not None:
        events.append(
            LiveEvent(
                "notification",
                {"notification_id": str(notification_id), "kind": EXPIRED_KIND, "channel": channel},
            )
        )
    return events
