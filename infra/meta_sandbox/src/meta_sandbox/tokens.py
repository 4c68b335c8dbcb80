"""``debug_token`` answers for per-account tokens (OAuth-issued tokens: ``grants.grant_debug_data``).

Like Meta's answer for a system-user or page token, ``granular_scopes`` name the account's own
object as target: the WABA for a WhatsApp number, the Page or Instagram account otherwise.
https://developers.facebook.com/docs/graph-api/reference/debug_token
"""

from __future__ import annotations

import time
from typing import Any

from meta_sandbox.grants import GRANULAR_SCOPES
from meta_sandbox.state import Account, SandboxState

_DATA_ACCESS_S = 90 * 86400  # Meta's data access window for a user token

_DEFAULT_SCOPES: dict[str, list[str]] = {
    "whatsapp": ["whatsapp_business_messaging", "whatsapp_business_management"],
    "facebook": ["pages_messaging", "pages_manage_metadata", "pages_show_list"],
    "instagram": ["instagram_basic", "instagram_manage_messages"],
}


def debug_token_data(state: SandboxState, input_token: str) -> dict[str, Any]:
    """The ``data`` object Meta returns for a token: validity, expiry (0 = never), scopes."""
    account = state.account_by_token(input_token)
    if account is None:
        return {
            "is_valid": False,
            "error": {"code": 190, "subcode": 467, "message": "Invalid OAuth access token."},
            "scopes": [],
        }
    data: dict[str, Any] = {
        "app_id": state.config.app_id,
        "type": "SYSTEM_USER" if account.channel == "whatsapp" else "PAGE",
        "application": state.config.app_name,
        "expires_at": account.token_expires_at or 0,
        "data_access_expires_at": account.data_access_expires_at or int(time.time()) + _DATA_ACCESS_S,
        "is_valid": not account.expired and not account.revoked,
        "scopes": account.scopes or _DEFAULT_SCOPES[account.channel],
        "granular_scopes": _granular(account, account.scopes or _DEFAULT_SCOPES[account.channel]),
        "profile_id": account.account_id,
    }
    if account.revoked:
        data["error"] = {
            "code": 190,
            "subcode": 460,
            "message": "Error validating access token: The session has been invalidated because the "
            "user changed their password or Facebook has changed the session for security reasons.",
        }
    elif account.expired:
        data["error"] = {"code": 190, "subcode": 463, "message": "Error validating access token: expired"}
    return data


def _granular(account: Account, scopes: list[str]) -> list[dict[str, Any]]:
    if account.channel == "whatsapp":
        target = account.waba_id or f"waba-{account.account_id}"
    else:
        target = account.account_id
    return [{"scope": s, "target_ids": [target]} if s in GRANULAR_SCOPES else {"scope": s} for s in scopes]
