"""Stage 2 for Messenger and Instagram: one ``messaging``/``standby`` item into domain events.

Both platforms share the Messenger Platform envelope (``sender``, ``recipient``, ``timestamp`` in
milliseconds, one event key per item); the Instagram-only differences (story mentions and replies,
``read {mid}``, ``message_edit``) are handled inline because each is one branch, not a new shape.
Instagram ``read {mid}`` becomes a ``StatusUpdate("read")`` for that message; a Messenger
``read``/``delivery`` watermark becomes a ``WatermarkUpdate``.
"""

from __future__ import annotations

from typing import Any

from omni_common.channels.inbound.attachments import message_body
from omni_common.channels.inbound.errors import MalformedEvent
from omni_common.channels.inbound.extract import (
    as_dict,
    as_list,
    epoch_millis,
    opt_dict,
    opt_id,
    opt_str,
    req_str,
)
from omni_common.channels.inbound.model import (
    Ignored,
    InboundMessage,
    Interactive,
    MessageDeleted,
    MessageEdited,
    NormalizedEvent,
    Reaction,
    StatusUpdate,
    WatermarkUpdate,
)
from omni_common.domain.channels import Channel

# Messenger's named reactions, for payloads that carry the name but no emoji.
REACTION_EMOJI = {
    "like": "\U0001f44d",
    "dislike": "\U0001f44e",
    "love": "\u2764\ufe0f",
    "smile": "\U0001f606",
    "wow": "\U0001f62e",
    "sad": "\U0001f622",
    "angry": "\U0001f620",
}

# Events we understand and deliberately do not turn into messages.
IGNORED_KEYS = {
    "optin": "optin",
    "referral": "referral",
    "pass_thread_control": "handover",
    "take_thread_control": "handover",
    "request_thread_control": "handover",
    "app_roles": "handover",
    "policy_enforcement": "policy_enforcement",
    "account_linking": "account_linking",
    "messaging_feedback": "feedback",
}


class _Parties:
    """Who is who in one item: the customer id and whether the business account sent it."""

    def __init__(self, account_id: str, item: dict[str, Any], echo: bool) -> None:
        sender = opt_id(opt_dict(item, "sender"), "id")
        recipient = opt_id(opt_dict(item, "recipient"), "id")
        # A reaction or edit by the page has no is_echo flag; the sender id gives it away.
        self.from_business = echo or (sender is not None and sender == account_id)
        contact = recipient if self.from_business else sender
        if contact is None:
            raise MalformedEvent("missing_id", "sender/recipient id of the customer is missing")
        self.contact_id = contact


def normalize_messaging(channel: Channel, account_id: str, payload: dict[str, Any]) -> list[NormalizedEvent]:
    """Turn one Messenger/Instagram messaging item into events."""
    payload = as_dict(payload, "payload")
    item = as_dict(payload.get("item"), "item")
    if "message" in item:
        return [_message(account_id, item)]
    if "reaction" in item:
        return [_reaction(account_id, item)]
    if "read" in item:
        return [_read(account_id, item)]
    if "delivery" in item:
        return [_delivery(account_id, item)]
    if "postback" in item:
        return [_postback(account_id, item)]
    for key in ("message_edit", "message_edits"):
        if key in item:
            return [_edit(account_id, item, key)]
    for key, reason in IGNORED_KEYS.items():
        if key in item:
            return [Ignored(reason=reason, raw=item)]
    return [Ignored(reason="unknown_event", raw=item)]


def _message(account_id: str, item: dict[str, Any]) -> NormalizedEvent:
    message = as_dict(item.get("message"), "message")
    mid = req_str(message, "mid", "message")
    echo = message.get("is_echo") is True
    parties = _Parties(account_id, item, echo)
    timestamp = epoch_millis(item.get("timestamp"), "timestamp")
    if message.get("is_deleted") is True:
        return MessageDeleted(
            target_external_id=mid,
            contact_external_id=parties.contact_id,
            platform_timestamp=timestamp,
            raw=item,
        )
    reply_to = opt_dict(message, "reply_to") or {}
    story = opt_dict(reply_to, "story")
    return InboundMessage(
        external_message_id=mid,
        contact_external_id=parties.contact_id,
        contact_name=None,
        contact_handle=parties.contact_id,
        platform_timestamp=timestamp,
        raw=item,
        reply_to_external_id=opt_id(reply_to, "mid"),
        story_id=opt_id(story, "id"),
        story_reply_url=opt_str(story, "url"),
        referral=opt_dict(message, "referral"),
        is_echo=parties.from_business,
        app_id=_app_id(message.get("app_id")),
        **message_body(message, story is not None),
    )


def _app_id(value: Any) -> str | None:
    # Meta sends app_id as a JSON number; ids are strings everywhere else in our model.
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**64:
        return str(value)
    return None


def _reaction(account_id: str, item: dict[str, Any]) -> Reaction:
    reaction = as_dict(item.get("reaction"), "reaction")
    parties = _Parties(account_id, item, echo=False)
    if opt_str(reaction, "action") == "unreact":
        emoji = None
    else:
        name = opt_str(reaction, "reaction")
        emoji = opt_str(reaction, "emoji") or REACTION_EMOJI.get(name or "") or name
    return Reaction(
        external_message_id=None,
        target_external_id=req_str(reaction, "mid", "reaction"),
        emoji=emoji,
        contact_external_id=parties.contact_id,
        contact_name=None,
        platform_timestamp=epoch_millis(item.get("timestamp"), "timestamp"),
        raw=item,
        is_echo=parties.from_business,
    )


def _read(account_id: str, item: dict[str, Any]) -> NormalizedEvent:
    read = as_dict(item.get("read"), "read")
    parties = _Parties(account_id, item, echo=False)
    mid = opt_id(read, "mid")
    if mid is not None:
        # Instagram names the one message seen; a status on it is exact, not a watermark guess.
        return StatusUpdate(
            external_message_id=mid,
            status="read",
            platform_timestamp=epoch_millis(item.get("timestamp"), "timestamp"),
            recipient_id=parties.contact_id,
            raw=item,
        )
    return WatermarkUpdate(
        status="read",
        watermark=epoch_millis(read.get("watermark"), "read.watermark"),
        mids=[],
        contact_external_id=parties.contact_id,
        raw=item,
    )


def _delivery(account_id: str, item: dict[str, Any]) -> WatermarkUpdate:
    delivery = as_dict(item.get("delivery"), "delivery")
    parties = _Parties(account_id, item, echo=False)
    mids = [m for m in as_list(delivery.get("mids"), "delivery.mids") if isinstance(m, str) and m]
    return WatermarkUpdate(
        status="delivered",
        watermark=epoch_millis(delivery.get("watermark"), "delivery.watermark"),
        mids=mids,
        contact_external_id=parties.contact_id,
        raw=item,
    )


def _postback(account_id: str, item: dict[str, Any]) -> InboundMessage:
    postback = as_dict(item.get("postback"), "postback")
    parties = _Parties(account_id, item, echo=False)
    raw_timestamp = item.get("timestamp")
    timestamp = epoch_millis(raw_timestamp, "timestamp")
    title = opt_str(postback, "title")
    # Older postbacks carry no mid; a key from customer + time keeps redeliveries idempotent.
    mid = opt_id(postback, "mid") or f"postback:{parties.contact_id}:{raw_timestamp}"
    return InboundMessage(
        external_message_id=mid,
        contact_external_id=parties.contact_id,
        contact_name=None,
        contact_handle=parties.contact_id,
        kind="postback",
        platform_timestamp=timestamp,
        raw=item,
        text=title,
        interactive=Interactive(kind="postback", payload=opt_str(postback, "payload"), title=title),
        referral=opt_dict(postback, "referral"),
    )


def _edit(account_id: str, item: dict[str, Any], key: str) -> MessageEdited:
    edit = as_dict(item.get(key), key)
    parties = _Parties(account_id, item, echo=False)
    return MessageEdited(
        target_external_id=req_str(edit, "mid", key),
        text=opt_str(edit, "text"),
        contact_external_id=parties.contact_id,
        platform_timestamp=epoch_millis(item.get("timestamp"), "timestamp"),
        raw=item,
    )
