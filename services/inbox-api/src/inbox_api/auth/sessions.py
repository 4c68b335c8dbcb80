"""Signed session tokens and the request's principal (who is calling, for which tenant).

Tokens are stateless: ``base64(json{t,u,r,exp,sid}).base64(HMAC-SHA256)`` signed with a secret the
composition root derives from the encryption keys. Stateless tokens need no table in the tenant
database and work across replicas; every request still loads the user from the tenant database, so a
deactivated user or a changed role is refused at once. Logout clears the browser's cookie; a copied
bearer token stays valid until it expires (``TOKEN_TTL``), which is why the TTL is short.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass

from omni_common.errors import OmniError

TOKEN_TTL_S = 12 * 3600
COOKIE_NAME = "omni_session"
CSRF_HEADER = "X-CSRF-Token"


class InvalidToken(OmniError):
    """A token that is malformed, forged or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says."""

    tenant_id: uuid.UUID
    user_id: uuid.UUID
    role: str
    expires_at: int
    sid: str


class TokenSigner:
    """Issues and verifies session tokens, and the CSRF token bound to each session."""

    def __init__(self, secret: bytes, *, ttl_s: int = TOKEN_TTL_S) -> None:
        if len(secret) < 32:
            raise ValueError("the session secret needs at least 32 bytes")
        self._key = hmac.new(secret, b"omni-inbox session v1", hashlib.sha256).digest()
        self._csrf_key = hmac.new(secret, b"omni-inbox csrf v1", hashlib.sha256).digest()
        self.ttl_s = ttl_s

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def issue(self, *, tenant_id: uuid.UUID, user_id: uuid.UUID, role: str, now: float | None = None) -> str:
        """A new token for this user."""
        exp = int((now or time.time()) + self.ttl_s)
        claims = {"t": str(tenant_id), "u": str(user_id), "r": role, "exp": exp, "sid": secrets.token_hex(16)}
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str, *, now: float | None = None) -> TokenClaims:
        """The claims of a valid token; InvalidToken otherwise."""
        if not token.isascii():  # compare_digest refuses non-ASCII str: a 401, never a 500
            raise InvalidToken("malformed token")
        body, _, mac = token.partition(".")
        if not body or not mac or not hmac.compare_digest(mac, self._mac(body)):
            raise InvalidToken("bad signature")
        try:
            raw = json.loads(_unb64(body))
            claims = TokenClaims(
                uuid.UUID(raw["t"]), uuid.UUID(raw["u"]), str(raw["r"]), int(raw["exp"]), str(raw["sid"])
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidToken("malformed token") from exc
        if claims.expires_at <= (now or time.time()):
            raise InvalidToken("expired")
        return claims

    def csrf_token(self, sid: str) -> str:
        """The CSRF token of a session (derived, so nothing needs storing)."""
        return _b64(hmac.new(self._csrf_key, sid.encode(), hashlib.sha256).digest())

    def check_csrf(self, sid: str, candidate: str | None) -> bool:
        """True when ``candidate`` is this session's CSRF token."""
        if not candidate or not candidate.isascii():
            return False
        return hmac.compare_digest(self.csrf_token(sid), candidate)
