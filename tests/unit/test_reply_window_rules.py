"""The one window rule (``domain.reply_window.window``) for every channel, with and without the
human-agent tag: the inbox, the sender and the countdown all read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omni_common.domain.reply_window import HUMAN_AGENT_TAG, closed_reason, window

LAST = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
H24, D7 = timedelta(hours=24), timedelta(days=7)


@pytest.mark.parametrize("channel", ["whatsapp", "facebook", "instagram"])
def test_free_form_replies_within_24_hours_need_no_tag(channel: str) -> None:
    win = window(channel, LAST, LAST + H24 - timedelta(seconds=1))
    assert win.free_form
    assert win.tag is None
    assert win.closes_at == LAST + H24
    closed = window(channel, LAST, LAST + H24)
    assert not closed.free_form


def test_whatsapp_allows_templates_at_any_time_and_the_tag_changes_nothing() -> None:
    for elapsed in (timedelta(0), H24, D7 * 3):
        win = window("whatsapp", LAST, LAST + elapsed, human_agent=True)
        assert win.templates
        assert win.tag is None
    assert window("whatsapp", None, LAST).templates  # writing first: never wrote, templates only
    assert not window("whatsapp", None, LAST).free_form


@pytest.mark.parametrize("channel", ["facebook", "instagram"])
def test_the_human_agent_tag_stretches_the_window_to_7_days(channel: str) -> None:
    inside = window(channel, LAST, LAST + H24, human_agent=True)
    assert inside.free_form
    assert inside.tag == HUMAN_AGENT_TAG
    assert inside.closes_at == LAST + D7
    assert not inside.templates
    assert window(channel, LAST, LAST + H24 - timedelta(seconds=1), human_agent=True).tag is None
    after = window(channel, LAST, LAST + D7, human_agent=True)
    assert not after.free_form
    assert not after.allows_anything
    assert "7 days" in closed_reason(channel, after, human_agent=True)
    assert "human-agent" in closed_reason(channel, window(channel, LAST, LAST + H24))


@given(
    channel=st.sampled_from(["whatsapp", "facebook", "instagram"]),
    human=st.booleans(),
    elapsed_s=st.integers(-3600, 10 * 86400),
)
def test_open_exactly_until_closes_at_and_tagged_only_past_24_hours(
    channel: str, human: bool, elapsed_s: int
) -> None:
    now = LAST + timedelta(seconds=elapsed_s)
    win = window(channel, LAST, now, human_agent=human)
    assert win.closes_at is not None
    assert win.free_form is (now < win.closes_at)
    if win.tag is not None:
        assert channel != "whatsapp"
        assert human
        assert now >= LAST + H24
        assert win.free_form
    assert win.templates is (channel == "whatsapp")
