"""Meta's messaging windows: what may be sent to a customer, and until when. One rule for everyone.

- **24 hours** after the customer's last message, free-form messages (text, files, reactions) are
  allowed on every channel.
- **WhatsApp** templates may be sent at any time (that is what they are for), window or not.
- **Messenger and Instagram** have no templates; with the human-agent tag (granted by Meta after
  App Review, switched on per account by the owner) a human may still reply up to **7 days** after
  the customer's last message, as ``messaging_type: MESSAGE_TAG, tag: HUMAN_AGENT``.
- After that, nothing until the customer writes again.

The inbox's refusal, the sender's refusal and the page's countdown (which receives ``closes_at`` and
counts down to it) all say "open" while ``now < closes_at`` and "closed" from ``closes_at`` on, so
they agree at exactly 24 hours (and 7 days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

REPLY_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
HUMAN_AGENT_TAG = "HUMAN_AGENT"
# Channels whose free-form window the human-agent tag stretches to 7 days.
TAGGABLE = frozenset({"facebook", "instagram"})
# Channels with message templates (allowed outside any window).
TEMPLATE_CHANNELS = frozenset({"whatsapp"})


@dataclass(frozen=True)
class ReplyWindow:
    """What a conversation allows at one instant.

    ``free_form``: text, files and reactions may be sent now; ``closes_at``: when that stops (the
    countdown's end; None when the customer never wrote); ``tag``: the message tag such a send
    needs now (``HUMAN_AGENT`` between 24 hours and 7 days), None otherwise; ``templates``: a
    WhatsApp template may be sent (at any time).
    """

    free_form: bool
    closes_at: datetime | None
    tag: str | None = None
    templates: bool = False

    @property
    def allows_anything(self) -> bool:
        """False: the platform allows nothing at all until the customer writes again."""
        return self.free_form or self.templates


def window(
    channel: str, last_inbound_at: datetime | None, now: datetime, *, human_agent: bool = False
) -> ReplyWindow:
    """The window of a conversation on ``channel`` whose customer last wrote at ``last_inbound_at``.

    ``human_agent``: the account's human-agent tag setting (Messenger and Instagram only).
    """
    templates = channel in TEMPLATE_CHANNELS
    if last_inbound_at is None:
        return ReplyWindow(False, None, None, templates)
    tagged = human_agent and channel in TAGGABLE
    end = last_inbound_at + (HUMAN_AGENT_WINDOW if tagged else REPLY_WINDOW)
    if now >= end:
        return ReplyWindow(False, end, None, templates)
    needs_tag = tagged and now >= last_inbound_at + REPLY_WINDOW
    return ReplyWindow(True, end, HUMAN_AGENT_TAG if needs_tag else None, templates)


def closes_at(last_inbound_at: datetime | None) -> datetime | None:
    """When the 24-hour window closes; None when the customer never wrote (nothing is open)."""
    return None if last_inbound_at is None else last_inbound_at + REPLY_WINDOW


def is_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """True while a free-form reply is allowed without any tag (the plain 24-hour rule)."""
    end = closes_at(last_inbound_at)
    return end is not None and now < end


def closed_reason(channel: str, win: ReplyWindow, *, human_agent: bool = False) -> str:
    """Why a free-form message cannot be sent now, in the words an owner reads."""
    if channel in TEMPLATE_CHANNELS:
        return (
            "the customer last wrote more than 24 hours ago, so WhatsApp allows only an approved "
            "template message until they write again"
        )
    if human_agent and channel in TAGGABLE:
        return (
            "the customer last wrote more than 7 days ago: the platform allows no message at all "
            "until they write again"
        )
    if channel in TAGGABLE:
        return (
            "the customer last wrote more than 24 hours ago: the platform allows replies only within "
            "24 hours (up to 7 days with the human-agent tag, which the owner can turn on in Settings "
            "once Meta has granted it)"
        )
    return "the customer last wrote more than 24 hours ago: replies are allowed only within 24 hours"
