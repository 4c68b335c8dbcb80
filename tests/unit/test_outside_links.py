"""Links from outside (customer payloads, Meta, templates) are rendered only when https, host shown."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox_api.messages.views import _location
from inbox_api.web.links import link_host, safe_link
from omni_common.db.tenant_models import ChatMessage


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "http://example.com/menu.pdf",
        "https://owner@evil.example/",
        "https://trusted.example:pw@evil.example/x",
        "//evil.example/x",
        "/relative/path",
        "https:///no-host",
        "https://evil.example/\r\nSet-Cookie: a=b",
        None,
        42,
    ],
)
def test_what_a_customer_could_shape_is_not_a_link(url: object) -> None:
    assert safe_link(url) is None
    assert link_host(url) == ""


def test_an_https_link_is_kept_and_its_host_shown() -> None:
    url = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1&signature=x"
    assert safe_link(url) == url
    assert link_host(url) == "lookaside.fbsbx.com"


@given(st.text(max_size=200))
def test_only_https_ever_passes(text: str) -> None:
    link = safe_link(text)
    assert link is None or link.lower().startswith("https://")


def _shared(location: dict[str, object]) -> ChatMessage:
    return ChatMessage(raw_payload={"_omni": {"location": location}}, created_at=datetime.now(UTC))


def test_a_shared_location_links_to_a_map_of_numbers_or_not_at_all() -> None:
    ok = _location(_shared({"latitude": 52.52, "longitude": 13.405, "url": "javascript:alert(1)"}))
    assert ok is not None
    assert ok["map_url"].startswith("https://www.openstreetmap.org/?mlat=52.52&")
    bad = _location(_shared({"latitude": "1&x=<b>", "longitude": 2}))
    assert bad is not None
    assert bad["map_url"] is None
    own = _location(_shared({"latitude": 1, "longitude": 2, "url": "https://maps.example/p"}))
    assert own is not None
    assert own["map_url"] == "https://maps.example/p"
