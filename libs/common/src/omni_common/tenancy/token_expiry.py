"""What to do about an account's token, given Meta's ``debug_token`` answer and the time: pure logic.

The account-monitor applies these decisions; the health panel uses ``expiry_warning`` to phrase the
same rule for people. Nothing here touches a database or the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_WARN_DAYS = 7


@dataclass(frozen=True)
class TokenCheck:
    """Meta's verdict on a token (None fields: Meta did not say)."""

    is_valid: bool
    expires_at: datetime | None  # None: never expires
    error_code: int | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class TokenDecision:
    """The outcome of one check: what to store, and whether to flag or warn the owner."""

    store_expires_at: datetime | None
    needs_reauth: bool = False
    reauth_reason: str | None = None
    warn: bool = False  # warn the owner now (once per expiry date)
    days_left: int | None = None


def days_left(expires_at: datetime, now: datetime) -> int:
    """Whole days left before expiry, rounded up (an expiry 2.1 days away is "3 days"); 0 once passed."""
    seconds = (expires_at - now).total_seconds()
    if seconds <= 0:
        return 0
    return int(-(-seconds // 86400))


def within_warning(expires_at: datetime | None, now: datetime, warn_days: int) -> bool:
    """True when the token expires within ``warn_days`` from now (and has not expired yet)."""
    if expires_at is None:
        return False
    return now < expires_at <= now + timedelta(days=warn_days)


def decide(check: TokenCheck, now: datetime, *, warn_days: int, warned_for: set[datetime]) -> TokenDecision:
    """Decide one check. ``warned_for``: expiry dates the owner was already warned about.

    An invalid token (or one whose expiry has passed) flags the account; a valid one that expires
    within ``warn_days`` warns, unless that very expiry date was warned about already, so repeated
    runs warn once per expiry date and a renewed token with a new date warns again.
    """
    expired = check.expires_at is not None and check.expires_at <= now
    if not check.is_valid or expired:
        reason = check.error_message or (
            "the access token expired" if expired else "Meta reports the access token is not valid"
        )
        return TokenDecision(store_expires_at=check.expires_at, needs_reauth=True, reauth_reason=reason)
    if check.expires_at is None:
        return TokenDecision(store_expires_at=None)
    left = days_left(check.expires_at, now)
    warn = within_warning(check.expires_at, now, warn_days) and check.expires_at not in warned_for
    return TokenDecision(store_expires_at=check.expires_at, warn=warn, days_left=left)


def expiry_warning(expires_at: datetime | None, now: datetime, warn_days: int) -> str | None:
    """A sentence for people when the token expires soon or has expired, else None."""
    if expires_at is None:
        return None
    if expires_at <= now:
        return "The access token has expired — reconnect the account."
    if not within_warning(expires_at, now, warn_days):
        return None
    left = days_left(expires_at, now)
    when = "within a day" if left <= 1 else f"in {left} days"
    return (
        f"The access token expires {when} ({expires_at:%Y-%m-%d}) — replace it before then, or "
        "replies will stop."
    )
