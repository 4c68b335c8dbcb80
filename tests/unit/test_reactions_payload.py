"""Staff reactions: Meta's WhatsApp reaction body; refused on channels without one; plain reasons."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omni_common.graph import PayloadError, build_send_payload, plain_reason_for_code


def test_whatsapp_reaction_body_is_metas_shape() -> None:
    suffix, body = build_send_payload(
        "whatsapp", to="34600111222", text="👍", reply_to_external_id="wamid.ABC", kind="reaction"
    )
    assert suffix == "messages"
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+34600111222",
        "type": "reaction",
        "reaction": {"message_id": "wamid.ABC", "emoji": "👍"},
    }


@pytest.mark.parametrize("channel", ["facebook", "instagram"])
def test_other_channels_have_no_reaction_message(channel: str) -> None:
    with pytest.raises(PayloadError):
        build_send_payload(channel, to="123", text="👍", reply_to_external_id="m_1", kind="reaction")


@pytest.mark.parametrize("emoji", ["", "  ", "ok", "a👍", "👍" * 20])
def test_a_reaction_is_one_emoji(emoji: str) -> None:
    with pytest.raises(PayloadError):
        build_send_payload("whatsapp", to="1555", text=emoji, reply_to_external_id="w", kind="reaction")


def test_a_reaction_needs_its_target() -> None:
    with pytest.raises(PayloadError):
        build_send_payload("whatsapp", to="1555", text="👍", reply_to_external_id=None, kind="reaction")


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("131047", "the 24-hour window has closed"),
        ("131026", "the customer cannot receive messages"),
        ("190", "the connection expired — reconnect"),
        ("outside_window", "the 24-hour window has closed"),
    ],
)
def test_plain_words_for_stored_codes(code: str, words: str) -> None:
    assert plain_reason_for_code(code, "Meta's own text") == words


@given(code=st.one_of(st.none(), st.text(max_size=12)), fallback=st.one_of(st.none(), st.text(max_size=40)))
def test_plain_reason_never_fails(code: str | None, fallback: str | None) -> None:
    result = plain_reason_for_code(code, fallback)
    assert result is None or isinstance(result, str)
    if code is None:
        assert result == fallback
