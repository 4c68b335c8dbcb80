"""Events: facts that happened (past tense), published by one service for others."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, Field

from omni_common.contracts.base import Contract
from omni_common.domain.channels import Channel


class RawWebhook(Contract):
    """A webhook delivery exactly as Meta sent it, kept before anything is parsed (ingress -> router)."""

    type: Literal["webhook.raw"] = "webhook.raw"
    version: Literal[1] = 1
    delivery_id: str
    channel: Channel
    received_at: AwareDatetime
    signature_verified: bool
    body: bytes


def encode_raw_webhook(*, delivery_id: str, channel: Channel, received_at: datetime, body: bytes) -> bytes:
    """The wire form of a verified ``RawWebhook``, without building the model (the ingress hot path).

    Decodes to the same ``RawWebhook`` as ``encode(RawWebhook(...))`` (tests hold it to that);
    the body is URL-safe base64, as pydantic writes it.
    """
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    return orjson.dumps(
        {
            "type": "webhook.raw",
            "version": 1,
            "delivery_id": delivery_id,
            "channel": channel,
            "received_at": received_at.isoformat(),
            "signature_verified": True,
            "body": base64.urlsafe_b64encode(body).decode("ascii"),
        }
    )


class RoutedEvent(Contract):
    """One entry/change of a delivery, resolved to exactly one tenant (router -> normalizer).

    ``event_id`` is stable for a given delivery position, so a replayed delivery yields the same ids.
    ``payload`` is the channel's own unit: for WhatsApp ``{"waba_id", "field", "value"}``, for
    Messenger/Instagram ``{"entry_id", "time", "item", "standby"}``.
    """

    type: Literal["event.routed"] = "event.routed"
    version: Literal[1] = 1
    event_id: str
    delivery_id: str
    tenant_id: uuid.UUID
    channel: Channel
    account_id: str
    received_at: AwareDatetime
    payload: dict[str, Any]


NotificationKind = Literal[
    "message.created",
    "message.updated",
    "message.status",
    "account.status",
    "notification",
    # Team inbox: state/snooze/assignment, labels on a conversation, a private note added.
    "conversation.updated",
    "conversation.labels",
    "note.created",
]


class NotificationEvent(Contract):
    """Something a live inbox should show: a new message, a status change, an account problem."""

    type: Literal["notification"] = "notification"
    version: Literal[1] = 1
    tenant_id: uuid.UUID
    kind: NotificationKind
    chat_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime
