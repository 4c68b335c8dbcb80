"""What people granted our app through the login dialog: codes, authorizations and issued tokens.

Meta's model, as far as the sandbox needs it:

- The dialog ends with a **code** (single use, about 10 minutes) bound to the ``redirect_uri`` it was
  opened with; ``GET /oauth/access_token`` swaps it for a short-lived **user token**, and
  ``grant_type=fb_exchange_token`` swaps that for a long-lived one (~60 days).
  https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow ,
  https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived
- What the person granted is one **authorization** per person and app: the granted ``scopes`` and,
  for asset permissions, the ``target_ids`` (Pages, Instagram accounts, WABAs, businesses) that
  ``debug_token`` reports as ``granular_scopes``. Revoking a permission changes it for every token.
  https://developers.facebook.com/docs/graph-api/reference/debug_token
- ``/me/accounts`` with a user token hands out **page tokens**; one derived from a long-lived user
  token does not expire (``expires_at: 0``).
  https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived#long-lived-page-token
- Embedded Signup (a Login for Business configuration) yields a business integration **system-user
  token** that does not expire, scoped to the WABA the person shared.
  https://developers.facebook.com/docs/whatsapp/embedded-signup/implementation
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

TokenKind = Literal["USER", "PAGE", "SYSTEM_USER"]

PAGE_SCOPES = frozenset(
    {"pages_messaging", "pages_manage_metadata", "pages_show_list", "pages_read_engagement"}
)
IG_SCOPES = frozenset({"instagram_basic", "instagram_manage_messages", "instagram_manage_comments"})
WABA_SCOPES = frozenset({"whatsapp_business_management", "whatsapp_business_messaging"})
BUSINESS_SCOPES = frozenset({"business_management"})
GRANULAR_SCOPES = PAGE_SCOPES | IG_SCOPES | WABA_SCOPES | BUSINESS_SCOPES

DATA_ACCESS_S = 90 * 86400  # Meta's data access window for user tokens


@dataclass
class Authorization:
    """What one person granted our app (shared by every token issued from it)."""

    auth_id: str
    user_id: str
    scopes: list[str]
    targets: dict[str, list[str]]  # granular scope -> target ids
    declined: list[str] = field(default_factory=list)
    issues: Literal["USER", "SYSTEM_USER"] = "USER"
    system_user_id: str | None = None  # Embedded Signup's business integration system user
    es_session: dict[str, str] | None = None  # {"phone_number_id", "waba_id", "business_id"}
    revoked: bool = False  # app removed / password changed: every token of it dies (190/460)
    app_id: str | None = None  # another Meta app's (``/_sandbox/oauth/tokens``); None: ours
    # When the person consented: data access lasts 90 days from it, whatever tokens are exchanged
    # since (renewing a token does not renew the consent).
    consented_at: int = field(default_factory=lambda: int(time.time()))

    def allows(self, scope: str, target: str) -> bool:
        """True when ``scope`` is granted for ``target``."""
        return scope in self.scopes and target in self.targets.get(scope, [])

    def targets_of(self, scopes: frozenset[str]) -> list[str]:
        """Targets granted under any of ``scopes`` (in grant order, no repeats)."""
        found: list[str] = []
        for scope in self.scopes:
            if scope in scopes:
                found.extend(t for t in self.targets.get(scope, []) if t not in found)
        return found

    def granular_scopes(self) -> list[dict[str, Any]]:
        """``debug_token``'s ``granular_scopes``: asset permissions carry their ``target_ids``."""
        items: list[dict[str, Any]] = []
        for scope in self.scopes:
            if scope in GRANULAR_SCOPES:
                items.append({"scope": scope, "target_ids": list(self.targets.get(scope, []))})
            else:
                items.append({"scope": scope})
        return items


@dataclass
class Grant:
    """An access token the sandbox issued through the OAuth flow."""

    token: str
    auth_id: str
    kind: TokenKind
    issued_at: int
    expires_at: int | None  # None: never expires
    long_lived: bool = False
    page_id: str | None = None  # PAGE tokens: the Page they act as
    revoked: bool = False
    page_tokens: dict[str, str] = field(default_factory=dict)  # USER tokens: page id -> derived token
    exchangeable: bool = True  # False (``POST /_sandbox/tokens``): fb_exchange_token refuses it

    @property
    def expired(self) -> bool:
        """True once the expiry has passed."""
        return self.expires_at is not None and self.expires_at <= time.time()


@dataclass
class AuthCode:
    """A code the dialog redirected with; single use, bound to the dialog's ``redirect_uri``."""

    code: str
    client_id: str
    redirect_uri: str
    auth_id: str
    created_at: float
    used: bool = False
    expired: bool = False  # forced by /_sandbox/oauth/codes/{code}/expire


ES_SCOPES = ["whatsapp_business_management", "whatsapp_business_messaging", "business_management"]


@dataclass
class LoginConfig:
    """A Facebook Login for Business configuration (``config_id``): its permissions and flavour."""

    config_id: str
    scopes: list[str] = field(default_factory=lambda: list(ES_SCOPES))
    embedded_signup: bool = True  # WhatsApp Embedded Signup: one WABA and number, a system-user token


@dataclass
class OAuthStore:
    """Codes, authorizations, tokens and login configurations, all in memory."""

    codes: dict[str, AuthCode] = field(default_factory=dict)
    authorizations: dict[str, Authorization] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    configs: dict[str, LoginConfig] = field(default_factory=dict)

    def config(self, config_id: str) -> LoginConfig:
        """A registered configuration; an unknown id is taken as an Embedded Signup one (no dashboard)."""
        return self.configs.get(config_id) or LoginConfig(config_id)

    def grant(self, token: str) -> Grant | None:
        """The issued token, compared in constant time (the dialog faces a browser)."""
        found = None
        for known, grant in self.grants.items():
            if secrets.compare_digest(known.encode(), token.encode()):
                found = grant
        return found

    def authorization(self, grant: Grant) -> Authorization:
        """The authorization a token was issued from."""
        return self.authorizations[grant.auth_id]

    def new_code(self, client_id: str, redirect_uri: str, auth: Authorization) -> AuthCode:
        """Store an authorization and a fresh code for it."""
        self.authorizations[auth.auth_id] = auth
        code = AuthCode("AQ" + secrets.token_urlsafe(32), client_id, redirect_uri, auth.auth_id, time.time())
        self.codes[code.code] = code
        return code

    def issue(
        self,
        auth: Authorization,
        kind: TokenKind,
        *,
        ttl_s: int | None,
        long_lived: bool = False,
        page_id: str | None = None,
    ) -> Grant:
        """A new token for ``auth`` (``ttl_s`` None: never expires)."""
        now = int(time.time())
        prefix = {"USER": "EAAU", "PAGE": "EAAP", "SYSTEM_USER": "EAAS"}[kind]
        grant = Grant(
            token=prefix + secrets.token_urlsafe(40),
            auth_id=auth.auth_id,
            kind=kind,
            issued_at=now,
            expires_at=None if ttl_s is None else now + ttl_s,
            long_lived=long_lived,
            page_id=page_id,
        )
        self.grants[grant.token] = grant
        return grant

    def page_token(self, user_grant: Grant, page_id: str) -> Grant:
        """The page token ``/me/accounts`` hands out for a user token (same one on every call).

        A page token from a long-lived user token never expires; from a short-lived one it ends
        with the user token.
        """
        known = user_grant.page_tokens.get(page_id)
        if known is not None and known in self.grants:
            return self.grants[known]
        auth = self.authorizations[user_grant.auth_id]
        grant = self.issue(auth, "PAGE", ttl_s=None, page_id=page_id)
        if not user_grant.long_lived:
            grant.expires_at = user_grant.expires_at
        user_grant.page_tokens[page_id] = grant.token
        return grant

    def of_user(self, user_id: str) -> list[Authorization]:
        """Every authorization a person gave."""
        return [a for a in self.authorizations.values() if a.user_id == user_id]


def grant_debug_data(app_id: str, app_name: str, grant: Grant, auth: Authorization) -> dict[str, Any]:
    """``debug_token``'s ``data`` for an OAuth-issued token."""
    system = grant.kind == "SYSTEM_USER"
    data: dict[str, Any] = {
        "app_id": auth.app_id or app_id,
        "type": grant.kind,
        "application": app_name,
        "data_access_expires_at": 0 if system else auth.consented_at + DATA_ACCESS_S,
        "expires_at": grant.expires_at or 0,
        "is_valid": not (grant.expired or grant.revoked or auth.revoked),
        "issued_at": grant.issued_at,
        "scopes": list(auth.scopes),
        "granular_scopes": auth.granular_scopes(),
        "user_id": auth.system_user_id or auth.user_id,
    }
    if grant.page_id is not None:
        data["profile_id"] = grant.page_id
    if grant.revoked or auth.revoked:
        data["error"] = {
            "code": 190,
            "subcode": 460,
            "message": "Error validating access token: The session has been invalidated because the "
            "user changed their password or Facebook has changed the session for security reasons.",
        }
    elif grant.expired:
        data["error"] = {"code": 190, "subcode": 463, "message": "Error validating access token: expired"}
    return data


def public_grant(grant: Grant, auth: Authorization) -> dict[str, Any]:
    """Control answer for a token (the token itself left out)."""
    return {
        "kind": grant.kind,
        "user_id": auth.user_id,
        "page_id": grant.page_id,
        "expires_at": grant.expires_at,
        "long_lived": grant.long_lived,
        "revoked": grant.revoked or auth.revoked,
        "scopes": list(auth.scopes),
        "granular_scopes": auth.granular_scopes(),
    }
