"""Unit tests of omni_common.crypto: AES-GCM with a key ring and a tenant/account/field binding."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omni_common import crypto
from omni_common.errors import DecryptionError

KEY_OLD = crypto.generate_key()
KEY_NEW = crypto.generate_key()
TENANT = uuid.uuid4()
ACCOUNT = uuid.uuid4()
AAD = crypto.binding(TENANT, ACCOUNT, "credentials")


@given(st.text())
@settings(max_examples=60, deadline=None)
def test_roundtrip_of_any_text(plaintext: str) -> None:
    ring = crypto.KeyRing.from_strings([KEY_NEW])
    token = ring.encrypt(plaintext, aad=AAD)
    assert ring.decrypt(token, aad=AAD) == plaintext


def test_ciphertext_format_names_the_key() -> None:
    ring = crypto.KeyRing.from_strings([KEY_NEW, KEY_OLD])
    token = ring.encrypt("secret", aad=AAD)
    version, kid, _ = token.split(":", 2)
    assert (version, kid) == ("v1", ring.primary_id)
    assert ring.key_of(token) == ring.primary_id
    assert ring.encrypt("secret", aad=AAD) != token  # fresh nonce every time


@pytest.mark.parametrize(
    "other",
    [
        crypto.binding(uuid.uuid4(), ACCOUNT, "credentials"),  # another tenant
        crypto.binding(TENANT, uuid.uuid4(), "credentials"),  # another account
        crypto.binding(TENANT, ACCOUNT, "webhook_secret"),  # another field
    ],
    ids=["tenant", "account", "field"],
)
def test_wrong_binding_fails(other: bytes) -> None:
    ring = crypto.KeyRing.from_strings([KEY_NEW])
    token = ring.encrypt("EAAG-token", aad=AAD)
    with pytest.raises(DecryptionError):
        ring.decrypt(token, aad=other)


def test_rotation_moves_to_the_newest_key() -> None:
    old_ring = crypto.KeyRing.from_strings([KEY_OLD])
    both = crypto.KeyRing.from_strings([KEY_NEW, KEY_OLD])
    new_only = crypto.KeyRing.from_strings([KEY_NEW])
    token = old_ring.encrypt("EAAG-token", aad=AAD)
    assert both.decrypt(token, aad=AAD) == "EAAG-token"  # old key still readable during rotation
    rotated = both.rotate(token, aad=AAD)
    assert both.key_of(rotated) == new_only.primary_id
    assert new_only.decrypt(rotated, aad=AAD) == "EAAG-token"
    assert both.rotate(rotated, aad=AAD) == rotated  # idempotent


def test_unknown_key_id_fails() -> None:
    token = crypto.KeyRing.from_strings([KEY_OLD]).encrypt("x", aad=AAD)
    with pytest.raises(DecryptionError, match="not in the key ring"):
        crypto.KeyRing.from_strings([KEY_NEW]).decrypt(token, aad=AAD)


@pytest.mark.parametrize("garbage", ["", "plaintext", "v2:abcd:AAAA", "v1:abcd", "v1:xx:!!!"])
def test_garbage_is_a_decryption_error(garbage: str) -> None:
    with pytest.raises(DecryptionError):
        crypto.KeyRing.from_strings([KEY_NEW]).decrypt(garbage, aad=AAD)


def test_tampered_ciphertext_fails() -> None:
    ring = crypto.KeyRing.from_strings([KEY_NEW])
    token = ring.encrypt("EAAG-token", aad=AAD)
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    with pytest.raises(DecryptionError):
        ring.decrypt(flipped, aad=AAD)


def test_bad_key_ring() -> None:
    with pytest.raises(ValueError, match="empty"):
        crypto.KeyRing.from_strings([])
    with pytest.raises(ValueError, match="32 bytes"):
        crypto.KeyRing.from_strings(["c2hvcnQ="])
