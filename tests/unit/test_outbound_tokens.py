"""Token cache of the sender: decrypts once per account and ciphertext, for a short time (no I/O)."""

from __future__ import annotations

import uuid

import pytest

from omni_common.crypto import KeyRing, binding, generate_key
from omni_common.errors import DecryptionError
from omni_common.tenancy.accounts import CREDENTIALS_FIELD, AccountNotFound
from outbound_sender.tokens import TokenCache

TENANT, ACCOUNT = uuid.uuid4(), uuid.uuid4()


class CountingRing:
    """A key ring that counts decryptions."""

    def __init__(self) -> None:
        self.ring = KeyRing.from_strings([generate_key()])
        self.calls = 0

    def decrypt(self, token: str, *, aad: bytes) -> str:
        self.calls += 1
        return self.ring.decrypt(token, aad=aad)

    def seal(self, plaintext: str, account: uuid.UUID = ACCOUNT) -> str:
        return self.ring.encrypt(plaintext, aad=binding(TENANT, account, CREDENTIALS_FIELD))


def test_decrypts_once_per_ttl_and_again_after_it() -> None:
    ring, now = CountingRing(), [0.0]
    cache = TokenCache(ring, ttl_s=60, clock=lambda: now[0])
    sealed = ring.seal("EAAG-secret")
    assert [cache.get(TENANT, ACCOUNT, sealed) for _ in range(3)] == ["EAAG-secret"] * 3
    assert ring.calls == 1
    now[0] = 61.0
    assert cache.get(TENANT, ACCOUNT, sealed) == "EAAG-secret"
    assert ring.calls == 2


def test_a_new_ciphertext_is_used_at_once() -> None:
    ring = CountingRing()
    cache = TokenCache(ring, ttl_s=60)
    assert cache.get(TENANT, ACCOUNT, ring.seal("old")) == "old"
    assert cache.get(TENANT, ACCOUNT, ring.seal("new")) == "new"  # the owner reconnected


def test_zero_ttl_decrypts_every_time() -> None:
    ring = CountingRing()
    cache = TokenCache(ring, ttl_s=0)
    sealed = ring.seal("t")
    cache.get(TENANT, ACCOUNT, sealed)
    cache.get(TENANT, ACCOUNT, sealed)
    assert ring.calls == 2


def test_missing_or_foreign_ciphertext_is_refused() -> None:
    ring = CountingRing()
    cache = TokenCache(ring)
    with pytest.raises(AccountNotFound):
        cache.get(TENANT, ACCOUNT, None)
    with pytest.raises(DecryptionError):  # sealed for another account: never served from the cache
        cache.get(TENANT, ACCOUNT, ring.seal("t", account=uuid.uuid4()))


def test_bounded_size() -> None:
    ring = CountingRing()
    cache = TokenCache(ring, max_entries=4)
    for k in range(10):
        account = uuid.uuid4()
        assert cache.get(TENANT, account, ring.seal(f"t{k}", account=account)) == f"t{k}"
    assert len(cache._entries) <= 4
