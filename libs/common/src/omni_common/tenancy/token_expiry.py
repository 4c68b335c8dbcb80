"""What to do about an account's token, given Meta's ``debug_token`` answer and the time: pure logic.

The account-monitor applies these decisions; the health panel uses ``expiry_warning`` to phrase the
same rule for people. Nothing here touches a database or the network.

Token lifecycle (issue 20): a token that expires and that we can renew ourselves (a long-lived
*user* token: ``fb_exchange_token``) is renewed within ``REFRESH_DAYS`` of its expiry; what cannot be
renewed (a page token from a short-lived user token, a system-user token with an expiry), or whose
renewal failed, warns the owner at ``warn_days`` (7) and at 1 day ahead, each stage once per expiry
date. ``debug_token``'s ``expires_at: 0`` (a page token derived from a long-lived user token, a
system-user token) is stored as never expiring. Instagram Login tokens (``ig_refresh_token`` at
graph.instagram.com) do not occur: Instagram accounts connect through their Page (Facebook Login).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_WARN_DAYS = 7
LAST_WARNING_DAYS = 1  # the second, last warning: a day ahead
# Renew a user token once 30 of its ~60 days are left: a failing renewal then has weeks of retries
# before the owner's first warning.
REFRESH_DAYS = 30
# Meta extends a user token at most once a day; twice a day gives a failed try a second chance
# before the 1-day warning.
REFRESH_RETRY = timedelta(hours=12)
# debug_token's ``type`` of the tokens we can renew ourselves (fb_exchange_token).
REFRESHABLE_KINDS = frozenset({"USER"})


@dataclass(frozen=True)
class TokenCheck:
    """Meta's verdict on a token (None fields: Meta did not say)."""

    is_valid: bool
    expires_at: datetime | None  # None: never expires
    error_code: int | None = None
    error_message: str | None = None
    kind: str | None = None  # debug_token's type: USER, PAGE, SYSTEM_USER


@dataclass(frozen=True)
class TokenDecision:
    """The outcome of one check: what to store, and whether to renew, flag or warn the owner."""

    store_expires_at: datetime | None
    needs_reauth: bool = False
    reauth_reason: str | None = None
    warn: bool = False  # warn the owner now (once per expiry date and stage)
    days_left: int | None = None
    refresh: bool = False  # renew the token now (fb_exchange_token)
    stage: int | None = None  # the warning's stage in days ahead (warn_days or 1)

    @property
    def never_expires(self) -> bool:
        return self.store_expires_at is None and not self.needs_reauth


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


def warning_stages(warn_days: int) -> tuple[int, ...]:
    """The days ahead at which the owner is warned, earliest first: (7, 1) by default."""
    return tuple(sorted({warn_days, LAST_WARNING_DAYS}, reverse=True))


def due_stage(expires_at: datetime, now: datetime, warn_days: int) -> int | None:
    """The most urgent warning stage reached (1 within a day, else ``warn_days``), None before."""
    reached = [s for s in warning_stages(warn_days) if within_warning(expires_at, now, s)]
    return min(reached) if reached else None


def refreshable(check: TokenCheck) -> bool:
    """Whether we can renew this token ourselves (a user token that expires)."""
    return check.expires_at is not None and check.kind in REFRESHABLE_KINDS


def refresh_due(
    check: TokenCheck, now: datetime, *, last_attempt: datetime | None, refresh_days: int = REFRESH_DAYS
) -> bool:
    """A renewable token inside its renewal window, not tried within ``REFRESH_RETRY``."""
    if not refreshable(check) or check.expires_at is None:
        return False
    if check.expires_at - now > timedelta(days=refresh_days):
        return False
    return last_attempt is None or now - last_attempt >= REFRESH_RETRY


def decide(
    check: TokenCheck,
    now: datetime,
    *,
    warn_days: int,
    warned: set[tuple[datetime, int]],
    last_refresh_attempt: datetime | None = None,
    refresh_failed: bool = False,
    refresh_days: int = REFRESH_DAYS,
) -> TokenDecision:
    """Decide one check. ``warned``: the (expiry date, stage) pairs the owner was warned about.

    An invalid token (or one whose expiry has passed) flags the account. A valid one that we can
    renew is renewed inside its window (``refresh``; the caller decides again with
    ``refresh_failed`` when the renewal fails). Otherwise a token inside a warning stage warns,
    unless that stage of that very expiry date was warned about already: repeated runs warn once at
    7 days and once at 1 day per expiry date, and a renewed token with a new date starts over.
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
    window = max(refresh_days, warn_days)  # never warn about a token not even tried
    if not refresh_failed and refresh_due(check, now, last_attempt=last_refresh_attempt, refresh_days=window):
        return TokenDecision(store_expires_at=check.expires_at, days_left=left, refresh=True)
    stage = due_stage(check.expires_at, now, warn_days)
    warn = stage is not None and (check.expires_at, stage) not in warned
    return TokenDecision(store_expires_at=check.expires_at, warn=warn, days_left=left, stage=stage)


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
