"""Working the queue, pure parts: effective state, planning a state change, list filters, the timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox_api.conversations.models import STATE_FILTERS, BadFilter, QueueFilters, page_filters
from inbox_api.conversations.rules import MAX_SNOOZE, WorkflowError, effective_state, plan_state
from inbox_api.notes.service import merge_timeline
from omni_common.db.tenant_models import CHAT_STATES

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
offsets = st.integers(min_value=-200 * 24 * 60, max_value=200 * 24 * 60).map(
    lambda m: NOW + timedelta(minutes=m)
)
maybe_time = st.none() | offsets


@given(st.sampled_from(CHAT_STATES), maybe_time)
def test_effective_state_only_wakes_expired_snoozes(state: str, until: datetime | None) -> None:
    seen = effective_state(state, until, NOW)
    if state == "snoozed" and until is not None and until > NOW:
        assert seen == "snoozed"
    elif state == "snoozed":
        assert seen == "open"
    else:
        assert seen == state


@given(
    st.sampled_from(CHAT_STATES),
    maybe_time,
    st.none() | st.sampled_from((*CHAT_STATES, "closed", "")),
    maybe_time,
)
def test_a_planned_state_is_always_valid(
    current: str, current_until: datetime | None, state: str | None, until: datetime | None
) -> None:
    try:
        plan = plan_state(current, current_until, state, until, NOW)
    except WorkflowError:
        return
    assert plan.state in CHAT_STATES
    if plan.state == "snoozed":
        assert plan.snoozed_until is not None
        assert NOW < plan.snoozed_until <= NOW + MAX_SNOOZE
    else:
        assert plan.snoozed_until is None


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("open", None, "closed", None), "state must be one of"),
        (("open", None, "snoozed", None), "needs snoozed_until"),
        (("open", None, None, NOW - timedelta(seconds=1)), "in the future"),
        (("open", None, "resolved", NOW + timedelta(hours=1)), "only goes with"),
        (("open", None, None, NOW + MAX_SNOOZE + timedelta(seconds=1)), "90 days"),
        (("open", None, None, datetime(2026, 12, 1)), "time zone"),  # naive on purpose
    ],
)
def test_refused_plans_say_why(
    args: tuple[str, datetime | None, str | None, datetime | None], says: str
) -> None:
    with pytest.raises(WorkflowError, match=says):
        plan_state(*args, NOW)


def test_snoozing_again_keeps_the_time_and_a_time_alone_means_snooze() -> None:
    later = NOW + timedelta(hours=3)
    assert plan_state("snoozed", later, "snoozed", None, NOW).snoozed_until == later
    assert plan_state("open", None, None, later, NOW).state == "snoozed"
    assert plan_state("snoozed", later, "open", None, NOW).snoozed_until is None


@given(st.none() | st.text(max_size=12), st.none() | st.text(max_size=12), st.none() | st.text(max_size=40))
def test_page_filters_never_fail(state: str | None, assignee: str | None, label: str | None) -> None:
    filters = page_filters(state, assignee, label)
    assert filters.check() is filters  # whatever a stale link says, the page shows a valid view
    assert filters.state in STATE_FILTERS


@pytest.mark.parametrize(
    "filters", [QueueFilters(state="closed"), QueueFilters(assignee="bob"), QueueFilters(state="")]
)
def test_api_filters_refuse_unknown_values(filters: QueueFilters) -> None:
    with pytest.raises(BadFilter):
        filters.check()


def _item(minute: int | None, **extra: object) -> dict[str, object]:
    at = (NOW + timedelta(minutes=minute)).isoformat() if minute is not None else None
    return {"id": f"{minute}-{extra.get('tag', '')}", "created_at": at, **extra}


@given(
    st.lists(st.integers(0, 100), max_size=8).map(sorted),
    st.lists(st.integers(0, 100), max_size=8).map(sorted),
)
def test_timeline_keeps_messages_in_order_and_places_notes_by_time(msgs: list[int], notes: list[int]) -> None:
    messages = [_item(m, tag=f"m{i}") for i, m in enumerate(msgs)]
    timeline = merge_timeline(messages, [_item(n, tag=f"n{i}") for i, n in enumerate(notes)])
    assert [i for i in timeline if not i.get("note")] == messages
    assert sum(1 for i in timeline if i.get("note")) == len(notes)
    times: list[str] = [i["created_at"] for i in timeline]
    assert times == sorted(times)
