"""How the people of the inbox are named to each other: a user by the name they chose, else one made
from their email's local part ("anna.maria_lopez@…" → "Anna Maria Lopez"); the email itself is never
shown as a name (it is an address, and a customer must never read it in a signature).
"""

from __future__ import annotations

import re

from omni_common.domain.channels import channel_name

_SEPARATORS = re.compile(r"[._\-+]+")


def name_from_email(email: str | None) -> str:
    """A readable name from an email's local part; "Team member" when nothing usable is left."""
    local = (email or "").split("@", 1)[0]
    words = [w for w in _SEPARATORS.split(local) if w and not w.isdigit()]
    return " ".join(w[:1].upper() + w[1:] for w in words) or "Team member"


def person_name(display_name: str | None, email: str | None) -> str:
    """The name a user goes by: the one they set, else one derived from their email."""
    name = (display_name or "").strip()
    return name or name_from_email(email)


def _is_platform_id(value: str) -> bool:
    """A page-scoped id (PSID, IGSID): a long number that means nothing to an owner."""
    return value.isdigit() and len(value) >= 10


def customer_name(channel: str, name: str | None, handle: str | None, external_id: str | None) -> str:
    """How an owner reads a customer: their name, else their handle (a phone number, an @username),
    never a platform's 15-digit id ("Instagram customer …4321" until a name is known)."""
    for candidate in (name, handle):
        text = (candidate or "").strip()
        if text and not _is_platform_id(text):
            return text
    if channel == "whatsapp" and external_id:
        return f"+{external_id}"  # a WhatsApp id is the phone number
    tail = (external_id or "")[-4:]
    return f"{channel_name(channel)} customer …{tail}" if tail else f"{channel_name(channel)} customer"


def customer_handle(channel: str, handle: str | None, external_id: str | None) -> str | None:
    """The customer's handle as an owner can use it (a phone number, an @username); None when the
    only one known is a platform id."""
    text = (handle or "").strip()
    if text and not _is_platform_id(text):
        return text
    if channel == "whatsapp" and external_id:
        return f"+{external_id}"
    return None
