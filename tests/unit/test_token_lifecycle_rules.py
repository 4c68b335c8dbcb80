"""Token lifecycle decisions (issue 20, item 4): renew what we can, warn at 7 and 1 days for the rest,
never-expiring tokens left alone; and the subscription rule the inbox and the monitor share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from omni_common.domain.subscriptions import PAGE_FIELDS, check_due, page_fields, subscription_ok
from omni_common.tenancy.token_expiry import (
    REFRESH_DAYS,
    REFRESH_RETRY,
    TokenCheck,
    decide,
    due_stage,
    refreshable,
    warning_stages,
)

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
KINDS = st.sampled_from(["USER", "PAGE", "SYSTEM_USER", None])
LEFT = st.floats(min_value=-5 * 86400, max_value=70 * 86400, allow_nan=False)
SINCE_TRY = st.one_of(st.none(), st.floats(min_value=0, max_value=3 * 86400))


def test_a_user_token_inside_its_window_is_renewed_not_warned() -> None:
    check = TokenCheck(True, NOW + timedelta(days=20), kind="USER")
    decision = decide(check, NOW, warn_days=7, warned=set())
    assert decision.refresh
    assert not decision.warn


def test_a_user_token_far_from_expiry_is_left_alone() -> None:
    check = TokenCheck(True, NOW + timedelta(days=55), kind="USER")
    decision = decide(check, NOW, warn_days=7, warned=set())
    assert not decision.refresh
    assert not decision.warn
    assert decision.store_expires_at == check.expires_at


def test_a_failed_renewal_warns_at_the_stage_reached_with_that_stage() -> None:
    check = TokenCheck(True, NOW + timedelta(days=5), kind="USER")
    decision = decide(check, NOW, warn_days=7, warned=set(), refresh_failed=True)
    assert decision.warn
    assert decision.stage == 7
    assert not decision.refresh


def test_a_page_token_warns_at_seven_days_then_at_one_day_once_each() -> None:
    expires = NOW + timedelta(days=6)
    check = TokenCheck(True, expires, kind="PAGE")
    warned: set[tuple[datetime, int]] = set()
    told = []
    for hours in range(0, 6 * 24, 3):  # a pass every 3 hours until expiry
        decision = decide(check, NOW + timedelta(hours=hours), warn_days=7, warned=warned)
        assert not decision.refresh
        if decision.warn:
            assert decision.stage is not None
            warned.add((expires, decision.stage))
            told.append((hours, decision.stage))
    assert [stage for _, stage in told] == [7, 1]
    assert told[1][0] >= 5 * 24  # the last warning comes within the last day


def test_never_expiring_tokens_are_stored_as_never_expiring_whatever_their_kind() -> None:
    for kind in ("USER", "PAGE", "SYSTEM_USER", None):
        decision = decide(TokenCheck(True, None, kind=kind), NOW, warn_days=7, warned=set())
        assert decision.never_expires
        assert not decision.refresh
        assert not decision.warn


def test_old_warnings_without_a_stage_count_as_the_first_stage() -> None:
    expires = NOW + timedelta(days=3)
    decision = decide(TokenCheck(True, expires, kind="PAGE"), NOW, warn_days=7, warned={(expires, 7)})
    assert not decision.warn


def test_the_stages_are_warn_days_and_one_day() -> None:
    assert warning_stages(7) == (7, 1)
    assert warning_stages(1) == (1,)
    assert due_stage(NOW + timedelta(days=8), NOW, 7) is None
    assert due_stage(NOW + timedelta(days=2), NOW, 7) == 7
    assert due_stage(NOW + timedelta(hours=20), NOW, 7) == 1


@given(left=LEFT, kind=KINDS, valid=st.booleans(), since=SINCE_TRY, failed=st.booleans())
def test_the_decision_table(
    left: float, kind: str | None, valid: bool, since: float | None, failed: bool
) -> None:
    expires = NOW + timedelta(seconds=left)
    check = TokenCheck(valid, expires, kind=kind)
    last_try = None if since is None else NOW - timedelta(seconds=since)
    decision = decide(
        check, NOW, warn_days=7, warned=set(), last_refresh_attempt=last_try, refresh_failed=failed
    )
    dead = not valid or expires <= NOW
    # One action at most: flag, renew or warn.
    assert sum([decision.needs_reauth, decision.refresh, decision.warn]) <= 1
    assert decision.needs_reauth == dead
    retry_due = last_try is None or NOW - last_try >= REFRESH_RETRY
    in_window = expires - NOW <= timedelta(days=REFRESH_DAYS)
    # Renewed exactly when: alive, a user token, inside its window, not just tried, not failed.
    assert decision.refresh == (not dead and kind == "USER" and in_window and retry_due and not failed)
    # Warned exactly when alive, inside 7 days, and not being renewed right now.
    within = NOW < expires <= NOW + timedelta(days=7)
    assert decision.warn == (not dead and within and not decision.refresh)
    if decision.warn:
        assert decision.stage == (1 if expires - NOW <= timedelta(days=1) else 7)
    assert decision.store_expires_at == expires


@given(left=st.floats(min_value=1, max_value=70 * 86400), kind=KINDS)
def test_only_user_tokens_that_expire_are_renewable(left: float, kind: str | None) -> None:
    assert refreshable(TokenCheck(True, NOW + timedelta(seconds=left), kind=kind)) == (kind == "USER")
    assert not refreshable(TokenCheck(True, None, kind=kind))


@given(
    first=st.floats(min_value=1, max_value=10 * 86400),
    gaps=st.lists(st.floats(min_value=60, max_value=86400), min_size=1, max_size=40),
    kind=st.sampled_from(["PAGE", "SYSTEM_USER"]),
)
def test_at_most_two_warnings_per_expiry_date_however_often_the_monitor_runs(
    first: float, gaps: list[float], kind: str
) -> None:
    expires = NOW + timedelta(seconds=first)
    warned: set[tuple[datetime, int]] = set()
    stages = []
    now = NOW
    for gap in gaps:
        decision = decide(TokenCheck(True, expires, kind=kind), now, warn_days=7, warned=warned)
        if decision.warn:
            assert decision.stage is not None
            warned.add((expires, decision.stage))
            stages.append(decision.stage)
        now += timedelta(seconds=gap)
    assert len(stages) == len(set(stages)) <= 2
    assert stages == sorted(stages, reverse=True)  # the 7-day one (if any) before the 1-day one


def test_a_page_subscription_needs_our_app_with_the_messaging_fields() -> None:
    ours = [{"id": "app-1", "subscribed_fields": list(PAGE_FIELDS)}]
    assert subscription_ok("page", ours, "app-1")
    assert not subscription_ok("page", ours, "app-2")
    assert not subscription_ok("page", [{"id": "app-1", "subscribed_fields": ["feed"]}], "app-1")
    assert not subscription_ok("page", [], "app-1")
    assert page_fields(ours, "app-1") == list(PAGE_FIELDS)


def test_a_waba_subscription_needs_our_app() -> None:
    listing = [{"whatsapp_business_api_data": {"id": "app-1", "name": "Inbox"}}]
    assert subscription_ok("waba", listing, "app-1")
    assert not subscription_ok("waba", listing, "app-2")
    assert not subscription_ok("waba", [], "app-1")


@given(since=st.one_of(st.none(), st.floats(min_value=0, max_value=10 * 3600)), hours=st.floats(0, 6))
def test_subscription_checks_are_paced(since: float | None, hours: float) -> None:
    every = timedelta(hours=hours)
    last = None if since is None else NOW - timedelta(seconds=since)
    due = check_due(last, NOW, every)
    if every <= timedelta(0):  # tiny hours round to no time at all: off
        assert not due
    elif last is None:
        assert due
    else:
        assert due == (NOW - last >= every * 0.9)
