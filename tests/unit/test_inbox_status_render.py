"""How the conversation view shows an outbound message's status, "may have been delivered" above all.

A reply the sender could not confirm (``failed`` with ``outcome_unknown``, or ``unknown`` on rows from
before that code) must not read like a plain failure: staff must check before sending it again.
"""

from __future__ import annotations

from typing import Any

import pytest

from inbox_api.web.templates import templates
from outbound_sender.handler import OUTCOME_UNKNOWN, OUTCOME_UNKNOWN_REASON


def _status_html(**fields: Any) -> str:
    message = {
        "id": "m1",
        "chat_id": "c1",
        "channel": "whatsapp",
        "direction": "outbound",
        "kind": "text",
        "text": "Your table is ready",
        "error_code": None,
        "error_message": None,
        **fields,
    }
    html = templates.env.get_template("_messages.html").render(
        thread={"messages": [message], "chat": {"id": "c1", "reply_window_open": True}}, request=None
    )
    start = html.index('<span class="status')
    return html[start : html.index("</span>\n", start) + len("</span>")]


def test_a_reply_that_may_have_been_delivered_says_so_and_is_marked_apart() -> None:
    html = _status_html(status="failed", error_code=OUTCOME_UNKNOWN, error_message=OUTCOME_UNKNOWN_REASON)
    assert "status-maybe-sent" in html
    assert "failed: may have been delivered" in html
    assert "check with the customer before sending it again" in html


def test_a_legacy_unknown_row_reads_as_may_have_been_delivered() -> None:
    html = _status_html(status="unknown", error_code="ambiguous", error_message="outcome unknown: not resent")
    assert "status-maybe-sent" in html
    assert "not confirmed: may have been delivered — check with the customer" in html


@pytest.mark.parametrize(
    ("status", "words", "ticks"),
    [
        ("sent", "sent", "✓"),
        ("delivered", "delivered", "✓✓"),
        ("read", "read", "✓✓"),
        ("queued", "waiting to send", "🕓"),
    ],
)
def test_ticks_as_whatsapp_shows_them_with_the_words_for_screen_readers(
    status: str, words: str, ticks: str
) -> None:
    html = _status_html(status=status)
    assert "status-maybe-sent" not in html
    assert f'data-status="{status}"' in html
    assert f'<span class="sr-only">{words}</span>' in html
    assert f'<span class="tick" aria-hidden="true">{ticks}</span>' in html


def test_a_failure_is_a_red_mark_with_its_reason_on_hover_and_tap() -> None:
    html = _status_html(status="failed", error_code="131026", error_message="the customer cannot receive")
    assert "status-maybe-sent" not in html
    assert 'title="Not delivered: the customer cannot receive"' in html
    assert '<span class="sr-only">failed: the customer cannot receive</span>' in html
    assert '<span class="fail-reason" hidden>Not delivered: the customer cannot receive</span>' in html


def test_customer_text_in_a_reason_is_escaped() -> None:
    html = _status_html(status="failed", error_code="x", error_message='<img src=x onerror="alert(1)">')
    assert "<img" not in html
