"""The ingress's fast RawWebhook encoding decodes to exactly what the pydantic model would carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omni_common.contracts import RawWebhook, decode, encode, encode_raw_webhook


@given(
    body=st.binary(max_size=3000),
    channel=st.sampled_from(["whatsapp", "facebook", "instagram"]),
    when=st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3))])),
)
def test_fast_encoding_round_trips_like_the_model(body: bytes, channel: str, when: datetime) -> None:
    fast = encode_raw_webhook(delivery_id="d1", channel=channel, received_at=when, body=body)
    model = RawWebhook(
        delivery_id="d1",
        channel=channel,
        received_at=when,
        signature_verified=True,
        body=body,
    )
    assert decode(RawWebhook, fast) == model
    assert decode(RawWebhook, fast) == decode(RawWebhook, encode(model))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        encode_raw_webhook(delivery_id="d", channel="whatsapp", received_at=datetime(2026, 1, 1), body=b"{}")
