"""What a new message implies, decided without I/O: its contact, its row, its chat's counters, the
follow-up fetches it needs and what the live inbox hears.

``store.store_messages`` sends these rows to the database and turns what comes back into changes
with the functions below, for one message or a batch alike.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from normalizer.model import Change, Enrichment, NewMessage
from normalizer.sql import ContactRow
from omni_common.channels.inbound import InboundMessage, Reaction
from omni_common.domain.channels import Channel

PREVIEW_CHARS = 140
# Messenger/Instagram payloads carry no sender name: it is fetched from the Graph API afterwards.
PROFILE_CHANNELS = ("facebook", "instagram")

ContactKey = tuple[uuid.UUID, str]  # (account id, customer's platform id)


def contact_row(
    account_id: uuid.UUID, channel: Channel, customer: str, name: str | None, handle: str | None
) -> dict[str, Any]:
    """A ``contacts`` row for ``sql.UPSERT_CONTACTS`` (a name or handle it lacks keeps the stored one)."""
    return {
        "social_account_id": account_id,
        "channel": channel,
        "external_id": customer,
        "display_name": name,
        "handle": handle,
    }


def chat_row(account_id: uuid.UUID, contact_id: uuid.UUID, channel: Channel) -> dict[str, Any]:
    """A ``chats`` row for ``sql.UPSERT_CHATS``: one conversation per (account, contact)."""
    return {"social_account_id": account_id, "contact_id": contact_id, "channel": channel}


def contact_rows(items: list[NewMessage]) -> dict[ContactKey, dict[str, Any]]:
    """One ``contacts`` row per (account, customer); the names that arrive last win, as one by one."""
    rows: dict[ContactKey, dict[str, Any]] = {}
    for it in items:
        key = (it.account.id, it.msg.contact_external_id)
        row = rows.setdefault(key, contact_row(key[0], it.channel, key[1], None, None))
        # An echo (our own message, sent from Meta's apps) names the page, not the customer.
        name = None if it.msg.is_echo else it.msg.contact_name
        row["display_name"] = name or row["display_name"]
        row["handle"] = it.msg.contact_handle or row["handle"]
    return rows


def media_json(msg: InboundMessage) -> dict[str, Any] | None:
    """The ``media`` document of a message, with the state its download starts in."""
    if msg.media is None:
        return None
    media = dataclasses.asdict(msg.media)
    # Story media must not be stored (Meta's rule): it is linked, and expires with the story.
    fetchable = msg.media.media_id is not None or msg.media.url is not None
    media["state"] = "linked" if msg.media.is_story else "pending" if fetchable else "unavailable"
    if msg.extra_media:
        media["extra"] = [dataclasses.asdict(m) for m in msg.extra_media]
    return media


def extras(msg: InboundMessage) -> dict[str, Any]:
    """What the columns do not hold, kept in the raw payload under ``_omni``."""
    found: dict[str, Any] = {}
    if msg.location:
        found["location"] = dataclasses.asdict(msg.location)
    if msg.shared_contacts:
        found["shared_contacts"] = msg.shared_contacts
    if msg.interactive:
        found["interactive"] = dataclasses.asdict(msg.interactive)
    if msg.referral:
        found["referral"] = msg.referral
    if msg.story_id or msg.story_reply_url:
        found["story"] = {"id": msg.story_id, "url": msg.story_reply_url}
    if msg.forwarded:
        found["forwarded"] = True
    return found


def preview(msg: InboundMessage) -> str:
    """The conversation list's line for this message."""
    text = msg.text or (msg.media.caption if msg.media and msg.media.caption else None)
    return (text or f"[{msg.kind}]")[:PREVIEW_CHARS]


def message_row(
    tenant_id: uuid.UUID,
    chat_id: uuid.UUID,
    channel: Channel,
    msg: InboundMessage,
    reply_to: uuid.UUID | None,
) -> dict[str, Any]:
    """The ``chat_messages`` row of an inbound (or echoed) message."""
    raw = dict(msg.raw)
    found = extras(msg)
    if found:
        raw = {**raw, "_omni": found}
    return {
        "tenant_id": tenant_id,
        "chat_id": chat_id,
        "channel": channel,
        "external_message_id": msg.external_message_id,
        "direction": msg.direction,
        "sender_name": None if msg.is_echo else msg.contact_name,
        "sender_handle": None if msg.is_echo else msg.contact_handle,
        "kind": msg.kind,
        "text": msg.text,
        "media": media_json(msg),
        "raw_payload": raw,
        "status": "sent" if msg.is_echo else "received",
        "platform_timestamp": msg.platform_timestamp,
        "reply_to_message_id": reply_to,
        "reply_to_external_id": msg.reply_to_external_id,
    }


@dataclass
class ChatBump:
    """What new messages do to one chat, applied in the order they came: last activity, preview,
    unread count and last customer message (a new customer message also reopens the chat)."""

    at: datetime | None = None
    preview: str = ""
    inbound: int = 0
    inbound_at: datetime | None = None

    def add(self, msg: InboundMessage) -> None:
        at = msg.platform_timestamp
        if self.at is None or at >= self.at:  # later in the batch wins a tie, as in sequence
            self.at, self.preview = at, preview(msg)
        if not msg.is_echo:
            self.inbound += 1
            self.inbound_at = at if self.inbound_at is None else max(self.inbound_at, at)

    def row(self, chat_id: uuid.UUID) -> dict[str, Any]:
        """Its row for ``sql.BUMP_CHATS``."""
        return {
            "chat_id": chat_id,
            "at": self.at,
            "preview": self.preview,
            "inbound": self.inbound,
            "inbound_at": self.inbound_at,
        }


def profile_wanted(contact: ContactRow, channel: Channel, msg: InboundMessage) -> tuple[Enrichment, ...]:
    """Ask for the sender's profile name where the channel gives none and none is known yet."""
    unknown = contact.display_name is None and contact.profile_fetched_at is None
    return ("profile",) if unknown and channel in PROFILE_CHANNELS and not msg.is_echo else ()


def media_wanted(media_state: str | None) -> tuple[Enrichment, ...]:
    """Ask for the download of media still waiting for it."""
    return ("media",) if media_state == "pending" else ()


def created(
    chat_id: uuid.UUID, message_id: uuid.UUID, msg: InboundMessage, enrich: tuple[Enrichment, ...]
) -> Change:
    """What the live inbox hears of a stored message (and the fetches it needs)."""
    data = {"direction": msg.direction, "kind": msg.kind}
    return Change("message.created", chat_id, message_id, data, enrich, msg.external_message_id)


def repeated(chat_id: uuid.UUID, message_id: uuid.UUID, enrich: tuple[Enrichment, ...]) -> Change | None:
    """A message already stored: nothing to announce, but follow-up work is asked for again while it
    is still pending (a crash may have come between the first commit and its publish)."""
    return Change("message.existing", chat_id, message_id, {}, enrich) if enrich else None


def reaction_id(reaction: Reaction) -> str:
    """The reaction's own platform id; Messenger/Instagram give none, so a stable one is derived and
    redeliveries still dedupe."""
    return reaction.external_message_id or (
        f"reaction:{reaction.target_external_id}:{reaction.contact_external_id}:"
        f"{int(reaction.platform_timestamp.timestamp() * 1000)}"
    )
