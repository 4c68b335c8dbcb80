"""Send-failure decisions, retry accounting and up-front refusals (pure functions)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omni_common.graph import ErrorClass
from outbound_sender.backoff import Action, decide, is_last_attempt, pair_backoff_s
from outbound_sender.handler import refusal
from outbound_sender.store import SendJob

C = ErrorClass
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cls", "action"),
    [
        (C.RATE_LIMIT, Action.RETRY),
        (C.PAIR_RATE_LIMIT, Action.RETRY),
        (C.TRANSIENT, Action.RETRY),
        (C.AMBIGUOUS, Action.UNKNOWN),
        (C.AUTH, Action.REAUTH),
        (C.OUTSIDE_WINDOW, Action.FAIL),
        (C.RECIPIENT_UNAVAILABLE, Action.FAIL),
        (C.PERMISSION, Action.FAIL),
        (C.BAD_REQUEST, Action.FAIL),
        (C.PERMANENT, Action.FAIL),
        (C.SPAM_LIMIT, Action.FAIL),
        (C.ACCOUNT_BLOCKED, Action.FAIL),
    ],
)
def test_action_per_class_on_a_first_attempt(cls: ErrorClass, action: Action) -> None:
    assert decide(cls, attempt=1, retry_delays=3, retry_after_s=None).action is action


@given(cls=st.sampled_from(list(ErrorClass)), delays=st.integers(0, 8), attempt=st.integers(1, 12))
def test_never_retry_after_the_last_attempt_and_never_resend_ambiguous(
    cls: ErrorClass, delays: int, attempt: int
) -> None:
    d = decide(cls, attempt=attempt, retry_delays=delays, retry_after_s=None)
    if is_last_attempt(attempt, delays):
        assert d.action is not Action.RETRY  # the consumer would dead-letter: the message must settle
    if d.action is Action.RETRY:
        assert cls.retryable
    if cls is C.AMBIGUOUS:
        assert d.action is Action.UNKNOWN


def test_last_attempt_matches_the_consumer() -> None:
    # ConsumerRunner dead-letters when attempt > number of retry queues.
    assert not is_last_attempt(2, 2)
    assert is_last_attempt(3, 2)
    assert is_last_attempt(1, 0)


def test_regain_time_holds_the_account_and_pair_limit_holds_the_customer() -> None:
    d = decide(C.RATE_LIMIT, attempt=1, retry_delays=3, retry_after_s=120.0)
    assert (d.hold_account_s, d.hold_pair_s) == (120.0, 0.0)
    p = decide(C.PAIR_RATE_LIMIT, attempt=2, retry_delays=3, retry_after_s=None)
    assert p.hold_account_s == 0.0
    assert p.hold_pair_s == 16.0


@given(st.integers(1, 50))
def test_pair_backoff_grows_and_is_capped(attempt: int) -> None:
    assert pair_backoff_s(attempt) <= pair_backoff_s(attempt + 1) <= 600.0


def _job(**changes: object) -> SendJob:
    base = {
        "message_id": uuid.uuid4(),
        "chat_id": uuid.uuid4(),
        "channel": "whatsapp",
        "direction": "outbound",
        "status": "queued",
        "text": "hola",
        "send_attempted_at": None,
        "reply_to_external_id": None,
        "last_inbound_at": NOW - timedelta(hours=1),
        "account_id": uuid.uuid4(),
        "account_external_id": "1",
        "account_status": "active",
        "account_active": True,
        "recipient": "34600000000",
    }
    return SendJob(**{**base, **changes})


def test_refusals_before_any_call() -> None:
    assert refusal(_job(), NOW) is None
    assert refusal(_job(account_active=False, account_status="disabled"), NOW)[0] == "account_disabled"
    assert refusal(_job(account_status="needs_reauth"), NOW)[0] == "needs_reauth"
    code, reason = refusal(_job(last_inbound_at=NOW - timedelta(hours=25)), NOW)
    assert code == "outside_window"
    assert "24-hour" in reason
    assert refusal(_job(last_inbound_at=None), NOW)[0] == "outside_window"


@pytest.mark.parametrize(
    ("elapsed", "closed"), [(timedelta(hours=24, seconds=-1), False), (timedelta(hours=24), True)]
)
def test_the_sender_refuses_from_exactly_24_hours(elapsed: timedelta, closed: bool) -> None:
    refused = refusal(_job(last_inbound_at=NOW - elapsed), NOW)
    assert (refused is not None and refused[0] == "outside_window") is closed
