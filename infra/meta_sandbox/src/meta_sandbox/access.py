"""Who is calling and what they may touch: per-account tokens and tokens from the OAuth flow.

Two kinds of token reach the Graph routes:

- a **per-account token** registered with ``/_sandbox/accounts`` (a system-user token for a WhatsApp
  number, a page token for a Page or Instagram account): it acts for that one account, as before;
- a token **issued by the OAuth flow** (``grants.py``): a user or system-user token acts for what its
  authorization's ``granular_scopes`` name (WABAs and their numbers, Pages, businesses); a page token
  acts for its Page and the Page's linked Instagram account when that was granted.

An object the token may not see answers like Meta: ``(#100)`` subcode 33, "does not exist, cannot
be loaded due to missing permissions, or does not support this operation"; a permission the person
declined or revoked answers ``(#200)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from meta_sandbox.errors import MetaError
from meta_sandbox.grants import IG_SCOPES, PAGE_SCOPES, WABA_SCOPES, Authorization, Grant
from meta_sandbox.graph import extract_token, not_found, sandbox_state
from meta_sandbox.state import Account, SandboxState


@dataclass(frozen=True)
class Caller:
    """The identity behind a request's token."""

    account: Account | None = None  # per-account token
    grant: Grant | None = None  # OAuth-issued token
    auth: Authorization | None = None  # ... and what its person granted

    @property
    def is_page(self) -> bool:
        """True for a page token from ``/me/accounts``."""
        return self.grant is not None and self.grant.kind == "PAGE"


def identify(request: Request, *, allow_expired: bool = False) -> Caller:
    """The caller, or Meta's token errors (104 none, 190/467 unknown, 190/460 invalidated, 190/463)."""
    token, _ = extract_token(request)
    if not token:
        raise MetaError(104)
    state = sandbox_state(request)
    account = state.account_by_token(token)
    if account is not None:
        if account.revoked:
            raise MetaError(190, subcode=460)
        if account.expired and not allow_expired:
            raise MetaError(190, subcode=463)
        return Caller(account=account)
    grant = state.oauth.grant(token)
    if grant is None:
        raise MetaError(190, subcode=467)
    auth = state.oauth.authorization(grant)
    if grant.revoked or auth.revoked:
        raise MetaError(190, subcode=460)
    if grant.expired and not allow_expired:
        raise MetaError(190, subcode=463)
    return Caller(grant=grant, auth=auth)


def acting_account(state: SandboxState, caller: Caller, object_id: str, method: str = "post") -> Account:
    """The account ``object_id`` (or ``me``) names, when the caller may act for it; else 100/33."""
    if caller.account is not None:
        if object_id in ("me", caller.account.account_id):
            return caller.account
        raise not_found(object_id, method)
    assert caller.grant is not None
    assert caller.auth is not None
    grant, auth = caller.grant, caller.auth
    if grant.kind == "PAGE":
        page = state.accounts.get(("facebook", grant.page_id or ""))
        if page is not None and object_id in ("me", page.account_id):
            return page
        ig = state.accounts.get(("instagram", object_id))
        if ig is not None and ig.page_id == grant.page_id and object_id in auth.targets_of(IG_SCOPES):
            return ig
        raise not_found(object_id, method)
    phone = state.accounts.get(("whatsapp", object_id))
    if phone is not None and phone.waba_id in auth.targets_of(WABA_SCOPES):
        return phone
    if ("facebook", object_id) in state.accounts or ("instagram", object_id) in state.accounts:
        raise MetaError(210)  # Pages act with page tokens (from /me/accounts), not user tokens
    raise not_found(object_id, method)


def require_scope(caller: Caller, scope: str, target: str) -> None:
    """``(#200)`` unless an OAuth-issued caller holds ``scope`` for ``target`` (per-account tokens pass)."""
    if caller.auth is None:
        return
    if not caller.auth.allows(scope, target):
        raise MetaError(200, message=f"(#200) Requires {scope} permission to manage the object")


MESSAGING_SCOPE = {
    "whatsapp": "whatsapp_business_messaging",
    "facebook": "pages_messaging",
    "instagram": "instagram_manage_messages",
}


def messaging_target(account: Account) -> str:
    """The granular target a send permission is checked on: the WABA for a number, else the account."""
    if account.channel == "whatsapp":
        return account.waba_id or f"waba-{account.account_id}"
    return account.account_id


def can_see_waba(caller: Caller, waba_id: str) -> bool:
    """True when the caller may read/manage this WABA."""
    if caller.account is not None:
        own = caller.account.waba_id or f"waba-{caller.account.account_id}"
        return caller.account.channel == "whatsapp" and own == waba_id
    assert caller.auth is not None
    return not caller.is_page and waba_id in caller.auth.targets_of(WABA_SCOPES)


def can_see_page(caller: Caller, page_id: str) -> bool:
    """True when the caller may act on this Page beyond its public fields."""
    if caller.account is not None:
        return caller.account.account_id == page_id
    assert caller.grant is not None
    assert caller.auth is not None
    if caller.is_page:
        return caller.grant.page_id == page_id
    return page_id in caller.auth.targets_of(PAGE_SCOPES)
