"""What the inbound pipeline produces: routable items (stage 1) and domain events (stage 2).

Everything here is a frozen, keyword-only dataclass holding only JSON-compatible values plus aware
``datetime``s, so events can be logged, compared in tests and stored without adapters. ``raw`` is
always the single platform object the event came from (one WhatsApp message/status, one
Messenger/Instagram ``messaging`` item), never the whole delivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from omni_common.domain.channels import Channel

AccountKind = Literal["phone_number", "waba", "page", "instagram"]

MessageKind = Literal[
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "button",
    "quick_reply",
    "postback",
    "story_mention",
    "story_reply",
    "share",
    "order",
    "system",
    "request_welcome",
    "unsupported",
]

DeliveryStatus = Literal["sent", "delivered", "read", "failed"]


# --- stage 1: splitting a delivery ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutableItem:
    """One entry/change of a delivery, with the platform account id the router maps to a tenant.

    ``account_kind`` says what ``account_id`` is: a WhatsApp phone number id, a WABA id (WhatsApp
    account-level fields that carry no phone number), a Facebook Page id or an Instagram account id.
    """

    index: str
    channel: Channel
    account_id: str
    account_kind: AccountKind
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectedItem:
    """A fragment of a delivery that cannot be routed; the rest of the delivery carries on."""

    index: str
    reason_code: str
    detail: str
    raw: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class SplitResult:
    """The routable items and the rejected fragments of one delivery, in delivery order."""

    items: list[RoutableItem] = field(default_factory=list)
    rejects: list[RejectedItem] = field(default_factory=list)


# --- stage 2: domain events ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaRef:
    """An attachment: WhatsApp gives a ``media_id`` to fetch, Messenger/Instagram a CDN ``url``.

    ``is_story`` marks Instagram story mentions: Meta forbids storing that media, so link it only.
    """

    kind: str
    media_id: str | None = None
    url: str | None = None
    mime_type: str | None = None
    sha256: str | None = None
    filename: str | None = None
    caption: str | None = None
    is_story: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """A shared place."""

    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Interactive:
    """What the customer picked: a reply button, list row, template button, quick reply or postback.

    ``kind`` is one of ``button_reply``, ``list_reply``, ``nfm_reply`` (WhatsApp Flows), ``button``
    (WhatsApp template quick-reply), ``quick_reply`` or ``postback``; ``payload`` is the id/payload
    we set when sending, ``title`` the label the customer saw.
    """

    kind: str
    payload: str | None = None
    title: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    """A message in a conversation; ``is_echo`` marks one the business account itself sent."""

    external_message_id: str
    contact_external_id: str
    contact_name: str | None
    contact_handle: str | None
    kind: MessageKind
    platform_timestamp: datetime
    raw: dict[str, Any]
    text: str | None = None
    media: MediaRef | None = None
    # Messenger/Instagram may attach several files to one message; ``media`` is the first.
    extra_media: list[MediaRef] = field(default_factory=list)
    location: Location | None = None
    shared_contacts: list[dict[str, Any]] | None = None
    reply_to_external_id: str | None = None
    story_id: str | None = None
    story_reply_url: str | None = None
    interactive: Interactive | None = None
    referral: dict[str, Any] | None = None
    forwarded: bool = False
    is_echo: bool = False
    # Messenger/Instagram echoes say which app sent them (ours, Business Suite, another tool).
    app_id: str | None = None

    @property
    def direction(self) -> Literal["inbound", "outbound"]:
        """Which way the message went, seen from the business."""
        return "outbound" if self.is_echo else "inbound"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reaction:
    """A reaction added to (``emoji`` set) or removed from (``emoji`` None) a message."""

    external_message_id: str | None
    target_external_id: str
    emoji: str | None
    contact_external_id: str
    contact_name: str | None
    platform_timestamp: datetime
    raw: dict[str, Any]
    is_echo: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDeleted:
    """The customer unsent a message."""

    target_external_id: str
    contact_external_id: str
    platform_timestamp: datetime
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEdited:
    """A message's text was edited."""

    target_external_id: str
    text: str | None
    contact_external_id: str
    platform_timestamp: datetime
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusUpdate:
    """Delivery status of one message the business sent."""

    external_message_id: str
    status: DeliveryStatus
    platform_timestamp: datetime
    recipient_id: str | None
    raw: dict[str, Any]
    error_code: int | None = None
    error_title: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WatermarkUpdate:
    """Everything sent to ``contact_external_id`` before ``watermark`` is delivered/read."""

    status: Literal["delivered", "read"]
    watermark: datetime
    mids: list[str]
    contact_external_id: str
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformError:
    """An error Meta reports about the account or the integration, not about one message."""

    code: int | None
    title: str | None
    message: str | None
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateStatusUpdate:
    """Meta changed a WhatsApp template's status (``message_template_status_update``): APPROVED,
    REJECTED, PAUSED, DISABLED, FLAGGED..., with its reason. Routed by the WABA's id."""

    waba_id: str
    template_id: str | None
    name: str | None
    language: str | None
    event: str
    reason: str | None
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Ignored:
    """Something understood and deliberately not acted on (optins, handovers, unknown fields)."""

    reason: str
    raw: Any


NormalizedEvent = (
    InboundMessage
    | Reaction
    | MessageDeleted
    | MessageEdited
    | StatusUpdate
    | WatermarkUpdate
    | PlatformError
    | TemplateStatusUpdate
    | Ignored
)
