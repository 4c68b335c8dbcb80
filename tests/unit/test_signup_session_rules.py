"""Embedded Signup's relayed ids are hints: the WABA must be granted, the number the WABA's."""

from __future__ import annotations

import pytest

from inbox_api.connect.meta import Granted, LoginProblem
from inbox_api.connect.signup import Number, SessionInfo, granted_waba, new_pin, picked_number

GRANTED = Granted(["whatsapp_business_management"], {"whatsapp_business_management": ["w1"]})
NUMBERS = [Number("p1", "w1", "+34 1", "Casa"), Number("p2", "w1", "+34 2", "Casa Dos")]


def test_the_relayed_waba_must_be_granted() -> None:
    assert granted_waba(SessionInfo("FINISH", "w1", "p1"), GRANTED) == "w1"
    with pytest.raises(LoginProblem):
        granted_waba(SessionInfo("FINISH", "w2", "p9"), GRANTED)


def test_without_a_message_the_only_granted_waba_is_taken() -> None:
    assert granted_waba(SessionInfo(), GRANTED) == "w1"
    two = Granted([], {"whatsapp_business_management": ["w1", "w2"]})
    assert granted_waba(SessionInfo(), two) is None
    with pytest.raises(LoginProblem):
        granted_waba(SessionInfo(), Granted([], {}))


def test_the_relayed_number_must_be_the_wabas() -> None:
    assert picked_number(SessionInfo("FINISH", "w1", "p2"), NUMBERS) == NUMBERS[1]
    with pytest.raises(LoginProblem):
        picked_number(SessionInfo("FINISH", "w1", "p3"), NUMBERS)
    assert picked_number(SessionInfo(), NUMBERS) is None  # the owner picks
    assert picked_number(SessionInfo(), NUMBERS[:1]) == NUMBERS[0]


def test_cancel_and_error_are_said_in_plain_words() -> None:
    assert "nothing was connected" in (SessionInfo("CANCEL").problem() or "")
    assert "banned" in (SessionInfo("ERROR", error_message="banned").problem() or "")
    assert SessionInfo("FINISH", "w1", "p1").problem() is None


def test_pins_are_six_digits() -> None:
    assert all(len(p) == 6 and p.isdigit() for p in (new_pin() for _ in range(200)))
