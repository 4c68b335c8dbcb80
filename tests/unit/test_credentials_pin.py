"""What the encrypted credentials hold: a bare token, or the token with a WhatsApp two-step PIN."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omni_common.domain.credentials import Credentials, pack, unpack, valid_pin

TOKENS = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=8).filter(
    lambda t: not t.startswith("{")
)
PINS = st.from_regex(r"\A[0-9]{6}\Z")


@given(TOKENS)
def test_a_bare_token_is_stored_as_it_always_was(token: str) -> None:
    assert pack(Credentials(token)) == token
    assert unpack(token) == Credentials(token)


@given(TOKENS, PINS)
def test_a_token_and_pin_come_back_together(token: str, pin: str) -> None:
    assert unpack(pack(Credentials(token, pin))) == Credentials(token, pin)


@pytest.mark.parametrize("pin", ["12345", "1234567", "12345a", "١٢٣٤٥٦", ""])
def test_only_six_ascii_digits_are_a_pin(pin: str) -> None:
    assert not valid_pin(pin)
    with pytest.raises(ValueError, match="six digits"):
        pack(Credentials("EAAtoken-123", pin))


def test_the_secrets_stay_out_of_repr() -> None:
    shown = repr(Credentials("EAAsecret-token", "123456"))
    assert "EAAsecret" not in shown
    assert "123456" not in shown


def test_key_rotation_keeps_the_pin_with_the_token() -> None:
    import uuid

    from omni_common.crypto import KeyRing, binding, generate_key

    old, new = generate_key(), generate_key()
    aad = binding(uuid.uuid4(), uuid.uuid4(), "credentials")
    sealed = KeyRing.from_strings([old]).encrypt(pack(Credentials("EAAtoken-123", "004217")), aad=aad)
    ring = KeyRing.from_strings([new, old])
    rotated = ring.rotate(sealed, aad=aad)
    assert rotated != sealed
    assert unpack(ring.decrypt(rotated, aad=aad)) == Credentials("EAAtoken-123", "004217")
