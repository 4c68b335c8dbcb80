"""Day labels of the conversation list and the history's separators (issue 18, bug 2): Today,
Yesterday, a weekday within the week, else the full date, in the restaurant's (or browser's) zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox_api.display.dates import (
    WEEKDAYS,
    clock,
    day_label,
    full_date,
    list_stamp,
    parse_iso,
    pick_zone,
    zone_named,
)

BERLIN = ZoneInfo("Europe/Berlin")
ZONES = st.sampled_from(
    [
        UTC,
        BERLIN,
        ZoneInfo("America/New_York"),
        ZoneInfo("Asia/Kolkata"),
        ZoneInfo("Pacific/Kiritimati"),
        ZoneInfo("Pacific/Pago_Pago"),
        ZoneInfo("Australia/Lord_Howe"),
        ZoneInfo("America/Sao_Paulo"),
    ]
)
MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))
FULL = re.compile(r"^\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}$")


def test_examples_in_berlin() -> None:
    now = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)  # Monday 21:00 in Berlin
    assert day_label(datetime(2026, 12, 7, 8, 0, tzinfo=UTC), now, BERLIN) == "Today"
    assert day_label(datetime(2026, 12, 6, 22, 59, tzinfo=UTC), now, BERLIN) == "Yesterday"  # Sunday 23:59
    assert day_label(datetime(2026, 12, 6, 23, 1, tzinfo=UTC), now, BERLIN) == "Today"  # Monday 00:01
    assert day_label(datetime(2026, 12, 5, 12, 0, tzinfo=UTC), now, BERLIN) == "Saturday"  # two days ago
    assert day_label(datetime(2026, 12, 1, 12, 0, tzinfo=UTC), now, BERLIN) == "Tuesday"  # six days ago
    assert day_label(datetime(2026, 11, 30, 12, 0, tzinfo=UTC), now, BERLIN) == "30 Nov 2026"  # a week ago
    assert day_label(datetime(2025, 10, 12, 12, 0, tzinfo=UTC), now, BERLIN) == "12 Oct 2025"  # last October
    assert day_label(datetime(2026, 12, 9, 12, 0, tzinfo=UTC), now, BERLIN) == "9 Dec 2026"  # a skewed clock


def test_the_zone_decides_the_day() -> None:
    now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    late = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # 02:00 Monday in Berlin, 20:00 Sunday in New York
    assert day_label(late, now, BERLIN) == "Today"
    assert day_label(late, now, ZoneInfo("America/New_York")) == "Today"  # now is 22:00 Sunday there
    assert day_label(late, now + timedelta(hours=6), ZoneInfo("America/New_York")) == "Yesterday"


def test_list_stamp_and_clock() -> None:
    now = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
    assert list_stamp(datetime(2026, 12, 7, 13, 5, tzinfo=UTC), now, BERLIN) == "Today 14:05"
    assert list_stamp(datetime(2026, 12, 6, 20, 10, tzinfo=UTC), now, BERLIN) == "Yesterday 21:10"
    assert list_stamp(datetime(2026, 12, 4, 8, 0, tzinfo=UTC), now, BERLIN) == "Friday"
    assert list_stamp(datetime(2025, 10, 12, 8, 0, tzinfo=UTC), now, BERLIN) == "12 Oct 2025"
    assert clock(datetime(2026, 7, 1, 12, 30, tzinfo=UTC), BERLIN) == "14:30"  # summer time


@pytest.mark.parametrize(
    ("restaurant", "browser", "expected"),
    [
        ("Europe/Berlin", "America/New_York", "Europe/Berlin"),
        (None, "America/New_York", "America/New_York"),
        ("", "Asia/Kolkata", "Asia/Kolkata"),
        ("Not/AZone", "Asia/Kolkata", "Asia/Kolkata"),
        (None, "../../etc/passwd", "UTC"),
        (None, "/etc/localtime", "UTC"),
        (None, None, "UTC"),
    ],
)
def test_the_restaurant_zone_wins_then_the_browser_then_utc(
    restaurant: str | None, browser: str | None, expected: str
) -> None:
    assert str(pick_zone(restaurant, browser)) == expected


def test_parse_iso() -> None:
    assert parse_iso("2026-12-07T10:00:00+00:00") == datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert parse_iso("2026-12-07T10:00:00Z") == datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert parse_iso("2026-12-07T10:00:00") == datetime(2026, 12, 7, 10, tzinfo=UTC)  # stored UTC
    assert parse_iso("garbage") is None
    assert parse_iso(None) is None
    assert parse_iso("") is None
    assert zone_named("x" * 100) is None


@given(MOMENTS, ZONES)
def test_now_is_today(now: datetime, zone: ZoneInfo) -> None:
    assert day_label(now, now, zone) == "Today"


@given(MOMENTS, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=800)), ZONES)
def test_a_label_names_the_local_day_of_the_moment(now: datetime, ago: timedelta, zone: ZoneInfo) -> None:
    moment = now - ago
    label = day_label(moment, now, zone)
    local, today = moment.astimezone(zone).date(), now.astimezone(zone).date()
    days = (today - local).days
    assert days >= 0
    if label == "Today":
        assert days == 0
    elif label == "Yesterday":
        assert days == 1
    elif label in WEEKDAYS:
        assert 2 <= days <= 6
        assert WEEKDAYS[local.weekday()] == label
    else:
        assert FULL.match(label)
        assert label == full_date(local)
        assert days >= 7


@given(
    MOMENTS, st.lists(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)), min_size=2), ZONES
)
def test_going_back_in_time_never_gets_a_newer_label(
    now: datetime, agos: list[timedelta], zone: ZoneInfo
) -> None:
    """Separators in the history: older messages never get a later day's label than newer ones."""
    order = ["Today", "Yesterday"]
    labels = [day_label(now - ago, now, zone) for ago in sorted(agos)]
    days = [(now.astimezone(zone).date() - (now - ago).astimezone(zone).date()).days for ago in sorted(agos)]
    assert days == sorted(days)
    # Within one week each label names one day only: equal labels, equal days.
    for (a, da), (b, db) in zip(
        zip(labels, days, strict=True), zip(labels[1:], days[1:], strict=True), strict=False
    ):
        if a == b and (a in order or a in WEEKDAYS):
            assert da == db
