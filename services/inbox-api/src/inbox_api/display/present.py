"""The templates' date helpers: the zone to show times in, and labels for stored ISO times.

The browser's zone comes from the ``omni_tz`` cookie static/app.js sets (Intl's resolved zone).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from fastapi import Request

from inbox_api.display.dates import clock, day_label, list_stamp, parse_iso, pick_zone

BROWSER_ZONE_COOKIE = "omni_tz"


def zone_for(restaurant: str | None, request: Request | None) -> tzinfo:
    browser = request.cookies.get(BROWSER_ZONE_COOKIE) if request is not None else None
    return pick_zone(restaurant, browser)


def day_of(value: str | datetime | None, zone: tzinfo) -> str:
    moment = parse_iso(value)
    return day_label(moment, datetime.now(UTC), zone) if moment else ""


def time_of(value: str | datetime | None, zone: tzinfo) -> str:
    moment = parse_iso(value)
    return clock(moment, zone) if moment else ""


def stamp_of(value: str | datetime | None, zone: tzinfo) -> str:
    moment = parse_iso(value)
    return list_stamp(moment, datetime.now(UTC), zone) if moment else ""
