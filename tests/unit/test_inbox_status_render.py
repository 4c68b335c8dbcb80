"""How the conversation view shows an outbound message's status, "may have been delivered" above all.

A reply the sender could not confirm (``failed`` with ``outcome_unknown``, or ``unknown`` on rows from
before that code) must not read like a plain failure: staff must check before sending it again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jinja2 import Environment, FileSystemLoader

import inbox_api
from outbound_sender.handler import OUTCOME_UNKNOWN, OUTCOME_UNKNOWN_REASON

TEMPLATES = Path(inbox_api.__file__).parent / "templates"


def _status_html(**fields: Any) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
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
    html = env.get_template("_messages.html").render(
        thread={"messages": [message], "chat": {"id": "c1", "reply_window_open": True}}
    )
    start = html.index('<span class="status')
    return html[start : html.index("</span>", start)]


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
    ("fields", "shown"),
    [
        (
            {"status": "failed", "error_code": "131026", "error_message": "the customer cannot receive"},
            "failed: the customer cannot receive",
        ),
        ({"status": "sent"}, "sent"),
        ({"status": "queued"}, "queued"),
    ],
)
def test_other_statuses_render_as_before(fields: dict[str, Any], shown: str) -> None:
    html = _status_html(**fields)
    assert "status-maybe-sent" not in html
    assert html.endswith(f">{shown}")
