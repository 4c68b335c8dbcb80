"""Parsing of X-App-Usage / X-Business-Use-Case-Usage (meta-api.md §4.3)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from omni_common.graph import parse_usage


def test_absent_headers_give_empty_usage() -> None:
    usage = parse_usage({})
    assert usage.max_percent is None
    assert usage.regain_access_minutes is None
    assert not usage.throttled


def test_app_usage_gives_highest_percent() -> None:
    usage = parse_usage({"X-App-Usage": '{"call_count":28,"total_time":25,"total_cputime":61}'})
    assert usage.max_percent == 61


def test_business_use_case_usage_gives_percent_and_regain_minutes_per_object() -> None:
    buc = {
        "111": [{"type": "messenger", "call_count": 100, "total_cputime": 25, "total_time": 25,
                 "estimated_time_to_regain_access": 19}],
        "222": [{"type": "pages", "call_count": 10, "total_cputime": 5, "total_time": 5,
                 "estimated_time_to_regain_access": 0}],
    }  # fmt: skip
    usage = parse_usage({"x-business-use-case-usage": json.dumps(buc)})
    assert usage.max_percent == 100
    assert usage.throttled
    assert usage.regain_access_minutes == 19
    assert usage.by_object == {"111": 100, "222": 10}


def test_headers_are_matched_case_insensitively_and_combined() -> None:
    usage = parse_usage(
        {
            "X-APP-USAGE": '{"call_count": 40}',
            "X-Business-Use-Case-Usage": '{"1": [{"call_count": 12, "estimated_time_to_regain_access": 3}]}',
        }
    )
    assert (usage.max_percent, usage.regain_access_minutes) == (40, 3)


def test_malformed_values_are_ignored() -> None:
    usage = parse_usage(
        {
            "X-App-Usage": '{"call_count": "NaN", "total_time": true, "total_cputime": 1e400}',
            "X-Business-Use-Case-Usage": '{"1": "x", "2": [1, null, {"call_count": -5}]}',
        }
    )
    assert usage.max_percent is None


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_header_value = st.one_of(st.text(), _json.map(json.dumps), st.integers(), st.none(), st.binary())
_names = st.sampled_from(["X-App-Usage", "x-business-use-case-usage", "X-Page-Usage", "Other"])


@given(st.dictionaries(_names | st.text(max_size=5), _header_value, max_size=4))
def test_parse_usage_never_raises_on_junk(headers: dict) -> None:
    usage = parse_usage(headers)
    assert usage.max_percent is None or usage.max_percent >= 0


@given(st.dictionaries(st.text(max_size=6), st.lists(st.dictionaries(
    st.sampled_from(["call_count", "total_time", "estimated_time_to_regain_access", "type"]), _json,
    max_size=4), max_size=3), max_size=3))  # fmt: skip
def test_parse_usage_never_raises_on_junk_buc_documents(doc: dict) -> None:
    parse_usage({"X-Business-Use-Case-Usage": json.dumps(doc)})
