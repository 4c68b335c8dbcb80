"""Credential encryption: AES-256-GCM with a key ring and associated data binding each value to its place.

Ciphertext text format: ``v1:<key id>:<base64url(nonce || ciphertext+tag)>``.

* The key ring comes from ``OMNI_ENCRYPTION_KEYS`` (comma-separated, newest first). The first key
  encrypts; every key decrypts. A key's id is the first 8 hex digits of its SHA-256, so ids need no
  naming and a ciphertext says which key opens it (no trial decryption).
* The associated data names tenant, account and field. A value copied to another row or tenant
  fails authentication instead of decrypting, which turns a copy/paste bug into a loud error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from omni_common.errors import DecryptionError

_VERSION = "v1"
_NONCE_BYTES = 12


def generate_key() -> str:
    """A fresh 256-bit key, base64url-encoded, suitable for ``OMNI_ENCRYPTION_KEYS``."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _decode_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("an encryption key is not valid base64") from exc
    if len(raw) != 32:
        raise ValueError("an encryption key must be 32 bytes (base64 of 256 bits)")
    return raw


def key_id(key: bytes) -> str:
    """Public identifier of a key: the first 8 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:8]


def binding(tenant_id: uuid.UUID | str, account_id: uuid.UUID | str, field: str) -> bytes:
    """Associated data: where a ciphertext is allowed to live."""
    return f"omni/{_VERSION}|tenant={tenant_id}|account={account_id}|field={field}".encode()


@dataclass(frozen=True)
class KeyRing:
    """AES-GCM keys, newest first."""

    keys: tuple[tuple[str, AESGCM], ...]

    @classmethod
    def from_strings(cls, keys: list[str]) -> KeyRing:
        if not keys:
            raise ValueError(
                "OMNI_ENCRYPTION_KEYS is empty: run the set-up, or generate one with `omni keys new`"
            )
        decoded = [_decode_key(k) for k in keys]
        return cls(tuple((key_id(k), AESGCM(k)) for k in decoded))

    @property
    def primary_id(self) -> str:
        return self.keys[0][0]

    def encrypt(self, plaintext: str, *, aad: bytes) -> str:
        kid, aead = self.keys[0]
        nonce = os.urandom(_NONCE_BYTES)
        sealed = aead.encrypt(nonce, plaintext.encode(), aad)
        return f"{_VERSION}:{kid}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, *, aad: bytes) -> str:
        try:
            version, kid, payload = token.split(":", 2)
            blob = base64.urlsafe_b64decode(payload)
        except (ValueError, binascii.Error) as exc:
            raise DecryptionError("not a ciphertext of this project") from exc
        if version != _VERSION:
            raise DecryptionError(f"unknown ciphertext version {version!r}")
        aead = next((a for k, a in self.keys if k == kid), None)
        if aead is None:
            raise DecryptionError(f"key {kid} is not in the key ring")
        try:
            return aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad).decode()
        except InvalidTag as exc:
            raise DecryptionError(
                "ciphertext does not belong here (tenant, account or field differs)"
            ) from exc

    def key_of(self, token: str) -> str:
        """The key id a ciphertext was sealed with."""
        return token.split(":", 2)[1]

    def rotate(self, token: str, *, aad: bytes) -> str:
        """Re-encrypt under the newest key (no-op when already there)."""
        if self.key_of(token) == self.primary_id:
            return token
        return self.encrypt(self.decrypt(token, aad=aad), aad=aad)
