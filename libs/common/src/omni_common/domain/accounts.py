"""A connected account's state, and what it allows.

An account is ``active``, ``disabled`` or ``needs_reauth`` (Meta refused its token), and separately
switched on or off (``is_active``). Inbound: only a disabled (or switched-off) account's events are
refused; a ``needs_reauth`` account still receives. Outbound: only an ``active`` one sends.
"""

from __future__ import annotations

from typing import Literal

from omni_common.domain.channels import channel_name

AccountStatus = Literal["active", "disabled", "needs_reauth"]
ACCOUNT_STATUSES: tuple[AccountStatus, ...] = ("active", "disabled", "needs_reauth")


def is_disabled(status: str, is_active: bool) -> bool:
    """Switched off, or disabled: its webhooks are dead-lettered and it sends nothing."""
    return not is_active or status == "disabled"


def receives(status: str, is_active: bool) -> bool:
    """Whether the account's inbound events are stored (a token problem does not stop them)."""
    return not is_disabled(status, is_active)


def send_refusal(channel: str, status: str, is_active: bool) -> tuple[str, str] | None:
    """(code, plain reason) when the account cannot send, else None. The sender's and inbox's rule."""
    name = channel_name(channel)
    if is_disabled(status, is_active):
        return "account_disabled", f"the {name} account is disabled — enable it in Settings to send"
    if status == "needs_reauth":
        return "needs_reauth", reauth_reason(channel)
    return None


def reauth_reason(channel: str) -> str:
    """What staff see on a reply that failed because the account's token is dead."""
    return (
        f"the {channel_name(channel)} connection expired or was revoked — the owner must reconnect the "
        "account (Settings → Connected accounts, or `omni account connect`)"
    )
