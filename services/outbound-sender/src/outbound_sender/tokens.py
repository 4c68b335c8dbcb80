"""Decrypted account tokens, kept briefly per account so a busy number is not decrypted per send.

The key includes the ciphertext itself: a reconnected account (new token, new ciphertext) misses the
cache at once, so the TTL only bounds how long a plaintext token stays in this process's memory.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from omni_common.crypto import KeyRing
from omni_common.tenancy.accounts import decrypt_token


class TokenCache:
    """``get`` decrypts (DecryptionError / AccountNotFound as ``read_token``) or returns a recent result."""

    def __init__(
        self,
        keyring: KeyRing,
        *,
        ttl_s: float = 60.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keyring = keyring
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: dict[tuple[uuid.UUID, uuid.UUID, str], tuple[str, float]] = {}

    def get(self, tenant_id: uuid.UUID, account_id: uuid.UUID, ciphertext: str | None) -> str:
        """The plaintext token of ``account_id`` whose stored ciphertext is ``ciphertext``."""
        if ciphertext is None:  # decrypt_token's AccountNotFound, before the cache key needs a str
            return decrypt_token(self._keyring, tenant_id=tenant_id, account_id=account_id, ciphertext=None)
        key = (tenant_id, account_id, ciphertext)
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        # decrypt_token: the token alone, also when a WhatsApp PIN is sealed with it
        token = decrypt_token(
            self._keyring, tenant_id=tenant_id, account_id=account_id, ciphertext=ciphertext
        )
        if len(self._entries) >= self._max:
            self._prune(now)
        self._entries[key] = (token, now + self._ttl)
        return token

    def _prune(self, now: float) -> None:
        """Drop expired entries; if still full, drop everything (a rare, cheap reset)."""
        self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
        if len(self._entries) >= self._max:
            self._entries.clear()
