"""The customer-service window rules of each channel (enforced when ``window_hours`` is set).

WhatsApp: free-form messages (text, media, reactions) only within 24 hours of the customer's last
message; outside it they fail with 131047 "Re-engagement message" — usually asynchronously (200 with
a wamid, then a ``failed`` status webhook), sometimes synchronously; ``wa_window_failure`` picks the
mode. Templates are allowed any time.
https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-messages#customer-service-windows ,
https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes (sync and async errors)

Messenger and Instagram: replies within 24 hours; after that only message tags. ``HUMAN_AGENT``
allows a human reply up to 7 days after the customer's last message, once the app has the Human
Agent permission (App Review; ``human_agent_permission`` here). Instagram supports no other tag;
Messenger's other tags (``ACCOUNT_UPDATE``, ``CONFIRMED_EVENT_UPDATE``, ``POST_PURCHASE_UPDATE``)
are let through, their content being Meta's policy, not the sandbox's concern. Refusals:
``(#10) This message is sent outside of allowed window.`` subcode 2018278 (Messenger) / 2534022
(Instagram).
https://developers.facebook.com/docs/messenger-platform/policy/policy-overview#24hours_window ,
https://developers.facebook.com/docs/messenger-platform/send-messages/message-tags ,
https://developers.facebook.com/docs/messenger-platform/error-codes
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from meta_sandbox.errors import MetaError
from meta_sandbox.state import Account, SandboxState
from meta_sandbox.validate import SendRequest

HUMAN_AGENT_DAYS = 7
_SUBCODE = {"facebook": 2018278, "instagram": 2534022}


@dataclass(frozen=True)
class WindowVerdict:
    """``None`` error: allowed; ``async_code``: accept, then report a failed status (WhatsApp)."""

    async_code: int | None = None


ALLOWED = WindowVerdict()


def hours_since_last_inbound(state: SandboxState, account: Account, user: str) -> float | None:
    """Hours since the user last wrote to the account, None when never."""
    last = state.last_inbound.get((account.account_id, user.removeprefix("+")))
    return None if last is None else (time.time() - last) / 3600


def check_window(state: SandboxState, account: Account, send: SendRequest) -> WindowVerdict:
    """Apply the channel's window rule to a send; raises ``MetaError`` for a synchronous refusal."""
    window = state.config.window_hours
    if window is None or not send.free_form:
        return ALLOWED
    since = hours_since_last_inbound(state, account, send.recipient)
    if since is not None and since <= window:
        return ALLOWED
    if account.channel == "whatsapp":
        if state.config.wa_window_failure == "sync":
            raise MetaError(131047, whatsapp=True, http_status=400)
        return WindowVerdict(async_code=131047)
    if _tag_allows(state, account, send, since):
        return ALLOWED
    raise MetaError(10, subcode=_SUBCODE[account.channel])


def _tag_allows(state: SandboxState, account: Account, send: SendRequest, since: float | None) -> bool:
    if send.messaging_type != "MESSAGE_TAG":
        return False
    if send.tag == "HUMAN_AGENT":
        within = since is not None and since <= HUMAN_AGENT_DAYS * 24
        return within and state.config.human_agent_permission
    return account.channel == "facebook"
