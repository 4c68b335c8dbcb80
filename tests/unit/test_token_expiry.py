"""The token monitor's decisions (pure): flag, warn once per expiry date, or nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from omni_common.tenancy.token_expiry import TokenCheck, days_left, decide, expiry_warning, within_warning

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
offsets = st.floats(min_value=-30 * 86400, max_value=120 * 86400, allow_nan=False)
warn_days = st.integers(min_value=1, max_value=60)


def test_a_token_expiring_in_3_days_warns_once() -> None:
    expires = NOW + timedelta(days=3)
    first = decide(TokenCheck(True, expires), NOW, warn_days=7, warned=set())
    assert first.warn
    assert not first.needs_reauth
    assert first.days_left == 3
    again = decide(TokenCheck(True, expires), NOW + timedelta(hours=1), warn_days=7, warned={(expires, 7)})
    assert not again.warn
    assert again.store_expires_at == expires


def test_a_renewed_token_with_a_new_date_warns_again() -> None:
    old, new = NOW + timedelta(days=2), NOW + timedelta(days=5)
    assert decide(TokenCheck(True, new), NOW, warn_days=7, warned={(old, 7)}).warn


def test_an_invalid_token_needs_reauth_with_meta_reason() -> None:
    check = TokenCheck(False, None, error_code=190, error_message="Error validating access token")
    decision = decide(check, NOW, warn_days=7, warned=set())
    assert decision.needs_reauth
    assert not decision.warn
    assert decision.reauth_reason == "Error validating access token"


def test_a_token_that_never_expires_is_left_alone() -> None:
    decision = decide(TokenCheck(True, None), NOW, warn_days=7, warned=set())
    assert decision == decide(TokenCheck(True, None), NOW, warn_days=30, warned=set())
    assert not decision.warn
    assert not decision.needs_reauth
    assert decision.store_expires_at is None


@given(offset=offsets, days=warn_days, valid=st.booleans())
def test_decisions_are_consistent(offset: float, days: int, valid: bool) -> None:
    expires = NOW + timedelta(seconds=offset)
    decision = decide(TokenCheck(valid, expires), NOW, warn_days=days, warned=set())
    assert not (decision.warn and decision.needs_reauth)
    # Flagged exactly when Meta says invalid or the expiry has passed: never "after" silently.
    assert decision.needs_reauth == (not valid or expires <= NOW)
    # Warned exactly when valid and within the warning period, i.e. days before expiry, not after
    # (a token of unknown kind: nothing we could renew).
    assert decision.warn == (valid and NOW < expires <= NOW + timedelta(days=days))
    assert decision.store_expires_at == expires


@given(offset=offsets, days=warn_days, later=st.floats(min_value=0, max_value=10 * 86400))
def test_warning_once_per_expiry_date_over_repeated_runs(offset: float, days: int, later: float) -> None:
    expires = NOW + timedelta(seconds=offset)
    warned: set[tuple[datetime, int]] = set()
    count = 0
    for now in (NOW, NOW + timedelta(seconds=later / 2), NOW + timedelta(seconds=later)):
        decision = decide(TokenCheck(True, expires), now, warn_days=days, warned=warned)
        if decision.warn:
            assert decision.stage is not None
            count += 1
            warned.add((expires, decision.stage))
    assert count <= 2  # at most the warn_days stage and the 1-day stage


@given(offset=offsets, days=warn_days)
def test_people_see_a_warning_exactly_when_it_is_due(offset: float, days: int) -> None:
    expires = NOW + timedelta(seconds=offset)
    text = expiry_warning(expires, NOW, days)
    assert (text is not None) == (expires <= NOW or within_warning(expires, NOW, days))
    if text is not None and expires > NOW:
        assert expires.strftime("%Y-%m-%d") in text


@given(offset=st.floats(min_value=1, max_value=365 * 86400))
def test_days_left_rounds_up(offset: float) -> None:
    left = days_left(NOW + timedelta(seconds=offset), NOW)
    assert (left - 1) * 86400 < offset <= left * 86400 + 1e-6
    assert days_left(NOW - timedelta(seconds=offset), NOW) == 0
