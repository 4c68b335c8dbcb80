"""Whether an access token proves that its holder owns the account it is connecting (issue 20).

Reading an object proves nothing: a public Page is readable by any user token. Ownership is proven
by ``debug_token``: the token is valid, was issued to *our* Meta app, and the account is among the
``target_ids`` the person granted for the permission the channel needs. A WhatsApp number is proven
through its WhatsApp Business Account (Meta grants WABAs, not numbers); a Page token may instead
answer ``GET /me`` with the Page itself. One rule for the inbox's form, its JSON API and the CLI.
https://developers.facebook.com/docs/graph-api/reference/debug_token
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# The permission each channel needs on the account it connects.
MESSAGING_SCOPE: dict[str, str] = {
    "facebook": "pages_messaging",
    "instagram": "instagram_manage_messages",
    "whatsapp": "whatsapp_business_messaging",
}


@dataclass(frozen=True)
class TokenGrant:
    """What Meta says about a token: ``debug_token``'s fields, and ``/me`` for a Page token."""

    is_valid: bool
    app_id: str | None
    targets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # granular scope -> ids
    me_id: str | None = None  # GET /me's id; asked only when the targets do not prove it


@dataclass(frozen=True)
class Refusal:
    """Why a token does not prove ownership, in plain words, and the form field it is about."""

    field: str  # "token", "waba_id" or "external_account_id"
    reason: str


def proving_target(channel: str, account_id: str, waba_id: str | None) -> str | None:
    """The id that must be among the granted targets: the WABA for a number, else the account."""
    if channel == "whatsapp":
        return waba_id or None
    return account_id


def ownership_refusal(
    *, channel: str, account_id: str, waba_id: str | None, our_app_id: str | None, grant: TokenGrant
) -> Refusal | None:
    """None when ``grant`` proves the account is the token holder's to connect, else the reason."""
    if not our_app_id:
        return Refusal("token", "This server cannot check who owns the account: OMNI_META_APP_ID is not set.")
    if not grant.is_valid:
        return Refusal("token", "Meta says this access token is not valid (expired or revoked).")
    if grant.app_id != our_app_id:
        return Refusal(
            "token", "This access token was made for another Meta app: make one for our app and paste it."
        )
    scope = MESSAGING_SCOPE.get(channel)
    if scope is None:
        return Refusal("external_account_id", f"Unknown channel {channel!r}.")
    target = proving_target(channel, account_id, waba_id)
    if target is None:
        return Refusal("waba_id", "Give the WhatsApp Business Account id: the number is proven through it.")
    if target in grant.targets.get(scope, ()):
        return None
    if channel == "facebook" and grant.me_id == account_id:
        return None  # a Page token acts as its Page
    what = {
        "facebook": "this Facebook Page",
        "instagram": "this Instagram account",
        "whatsapp": "this WhatsApp Business Account",
    }[channel]
    field_name = "waba_id" if channel == "whatsapp" else "external_account_id"
    return Refusal(
        field_name,
        f"This access token was not given permission ({scope}) for {what}: only an account its owner "
        "granted to our app can be connected.",
    )


def needs_me(channel: str, account_id: str, waba_id: str | None, grant: TokenGrant) -> bool:
    """Whether asking ``GET /me`` could still prove it (a Facebook Page not among the targets)."""
    target = proving_target(channel, account_id, waba_id)
    return channel == "facebook" and target not in grant.targets.get(MESSAGING_SCOPE[channel], ())
