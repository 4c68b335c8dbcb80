"""Meta's customer-service window: free-form replies only within 24 hours of the customer's last message.

One comparison for everyone: the inbox's refusal, the sender's refusal and the page's countdown (which
receives ``closes_at`` and counts down to it) all say "open" while ``now < closes_at`` and "closed"
from ``closes_at`` on, so they agree at exactly 24 hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta

REPLY_WINDOW = timedelta(hours=24)


def closes_at(last_inbound_at: datetime | None) -> datetime | None:
    """When the window closes; None when the customer never wrote (nothing is open)."""
    return None if last_inbound_at is None else last_inbound_at + REPLY_WINDOW


def is_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """True while a free-form reply is allowed."""
    end = closes_at(last_inbound_at)
    return end is not None and now < end
