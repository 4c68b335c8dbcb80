"""Classification of Graph errors (meta-api.md §4.2) and the plain words staff see."""

from __future__ import annotations

import pytest

from omni_common.graph import ErrorClass, GraphError, classify, plain_reason
from omni_common.graph.errors import parse_error_body

C = ErrorClass

TABLE = [
    # (code, subcode, http_status, expected)
    *[(c, None, 429, C.RATE_LIMIT) for c in (4, 17, 32, 613, 341, 80001, 80002, 80006, 80007, 80008, 130429)],
    (613, 2534040, 400, C.RATE_LIMIT),
    (131056, None, 400, C.PAIR_RATE_LIMIT),
    (131048, None, 400, C.SPAM_LIMIT),
    *[(c, None, 500, C.TRANSIENT) for c in (1, 2, 131000, 131016, 133004, 131057)],
    (190, None, 401, C.AUTH),
    (190, 463, 401, C.AUTH),
    (190, 467, 400, C.AUTH),
    (102, None, 400, C.AUTH),
    (0, None, 401, C.AUTH),
    (131047, None, 400, C.OUTSIDE_WINDOW),
    (10, 2018278, 400, C.OUTSIDE_WINDOW),
    (10, 2534022, 400, C.OUTSIDE_WINDOW),
    (10, 2018065, 400, C.OUTSIDE_WINDOW),
    (551, None, 400, C.RECIPIENT_UNAVAILABLE),
    (551, 1545041, 400, C.RECIPIENT_UNAVAILABLE),
    (131026, None, 400, C.RECIPIENT_UNAVAILABLE),
    (200, 1545041, 400, C.RECIPIENT_UNAVAILABLE),
    (10, 2018108, 400, C.RECIPIENT_UNAVAILABLE),
    (10, None, 403, C.PERMISSION),
    (200, None, 403, C.PERMISSION),
    (299, None, 403, C.PERMISSION),
    (3, None, 400, C.PERMISSION),
    (131005, None, 403, C.PERMISSION),
    (100, None, 400, C.BAD_REQUEST),
    (100, 2018001, 400, C.BAD_REQUEST),
    (131009, None, 400, C.BAD_REQUEST),
    (368, None, 400, C.ACCOUNT_BLOCKED),
    (131031, None, 400, C.ACCOUNT_BLOCKED),
    (200, 2534041, 400, C.ACCOUNT_BLOCKED),
    (1, 1357046, 500, C.AMBIGUOUS),
    (132001, None, 400, C.TEMPLATE),
    (132000, None, 400, C.TEMPLATE),
    (132016, None, 400, C.TEMPLATE),
    (132069, None, 400, C.TEMPLATE),
    (132017, None, 400, C.PERMANENT),  # not a template error Meta lists
    (131053, None, 400, C.MEDIA),
    (100, 2018109, 400, C.MEDIA),
    (999999, None, 400, C.PERMANENT),
    (999999, None, 502, C.TRANSIENT),  # unknown code behind a failing proxy
    (None, None, 503, C.TRANSIENT),
    (None, None, 429, C.RATE_LIMIT),
    (None, None, 401, C.AUTH),
    (None, None, 404, C.PERMANENT),
    (131047, None, 500, C.OUTSIDE_WINDOW),  # the code wins over the HTTP status
]


@pytest.mark.parametrize(("code", "subcode", "status", "expected"), TABLE)
def test_classify(code: int | None, subcode: int | None, status: int, expected: ErrorClass) -> None:
    assert classify(code, subcode, status) is expected


def test_only_throttling_and_transient_classes_are_retryable() -> None:
    assert {c for c in ErrorClass if c.retryable} == {C.RATE_LIMIT, C.PAIR_RATE_LIMIT, C.TRANSIENT}


@pytest.mark.parametrize(
    ("code", "subcode", "words"),
    [
        (131047, None, "the 24-hour window has closed"),
        (10, 2018278, "the 24-hour window has closed"),
        (131026, None, "the customer cannot receive messages"),
        (190, 463, "the connection expired — reconnect"),
    ],
)
def test_plain_reason(code: int, subcode: int | None, words: str) -> None:
    assert plain_reason(GraphError("x", code=code, subcode=subcode, http_status=400)) == words


def test_every_class_has_plain_words() -> None:
    for cls in ErrorClass:
        assert plain_reason(GraphError("x", error_class=cls))


def test_parses_whatsapp_envelope() -> None:
    body = {
        "error": {
            "message": "(#130429) Rate limit hit",
            "type": "OAuthException",
            "code": 130429,
            "error_subcode": 2494055,
            "error_data": {"messaging_product": "whatsapp", "details": "throughput reached"},
            "fbtrace_id": "Az8",
        }
    }
    fields = parse_error_body(body)
    assert fields["code"] == 130429
    assert fields["subcode"] == 2494055
    assert fields["details"] == "throughput reached"
    assert fields["fbtrace_id"] == "Az8"


@pytest.mark.parametrize("junk", [None, [], "x", {"error": "x"}, {"error": {"code": "abc", "type": 3}}])
def test_junk_error_bodies_parse_without_raising(junk: object) -> None:
    fields = parse_error_body(junk)
    assert fields.get("code") is None
