"""``X-Hub-Signature-256`` verification over the raw request bytes."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

_PREFIX = "sha256="


def sign(body: bytes, secret: bytes) -> str:
    """The header value Meta would send for ``body`` signed with ``secret``."""
    return _PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secrets: Sequence[bytes]) -> bool:
    """True when ``header`` is a valid signature of ``body`` under any of ``secrets``.

    Hashes the bytes exactly as received (Meta signs its escaped-unicode serialisation, so a
    re-serialised body would not match). Every secret is compared in constant time, and all of
    them are tried, so timing does not reveal which one matched.
    """
    if not header or not secrets or not header.startswith(_PREFIX):
        return False
    given = header[len(_PREFIX) :].strip().lower().encode()
    matched = False
    for secret in secrets:
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
        matched |= hmac.compare_digest(expected, given)
    return matched
