"""Day labels as owners read them: Today, Yesterday, a weekday within the last week, else the date.

Pure functions of (moment, now, zone): the page passes the restaurant's zone (or the browser's).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def zone_named(name: str | None) -> ZoneInfo | None:
    """The IANA zone of that name, or None for an empty or unknown one (never raises)."""
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def pick_zone(restaurant: str | None, browser: str | None) -> tzinfo:
    """The restaurant's zone when set, else the browser's, else UTC."""
    return zone_named(restaurant) or zone_named(browser) or UTC


def full_date(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def day_label(moment: datetime, now: datetime, zone: tzinfo) -> str:
    """``Today``, ``Yesterday``, a weekday for the 5 days before, otherwise ``12 Oct 2025``.

    Days are calendar days in ``zone`` (so 23:50 yesterday is "Yesterday" ten minutes later); a
    moment in the future (a skewed clock) gets its date, never a misleading weekday.
    """
    day = moment.astimezone(zone).date()
    days_ago = (now.astimezone(zone).date() - day).days
    if days_ago == 0:
        return "Today"
    if days_ago == 1:
        return "Yesterday"
    if 2 <= days_ago <= 6:
        return WEEKDAYS[day.weekday()]
    return full_date(day)


def clock(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%H:%M")


def list_stamp(moment: datetime, now: datetime, zone: tzinfo) -> str:
    """The conversation list's stamp: the time today and yesterday, else the day label alone."""
    label = day_label(moment, now, zone)
    return f"{label} {clock(moment, zone)}" if label in ("Today", "Yesterday") else label


def parse_iso(value: object) -> datetime | None:
    """A stored ISO time (a naive one is UTC); None for nothing or garbage."""
    if not value or not isinstance(value, str | datetime):
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
