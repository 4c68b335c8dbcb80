"""Events: facts that happened (past tense), published by one service for others."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import AwareDatetime, Field, TypeAdapter, model_validator

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
    return orjson.dumps(
        raw_webhook_fields(delivery_id=delivery_id, channel=channel, received_at=received_at, body=body)
    )


class RawWebhookBatch(Contract):
    """Several webhook deliveries that reached one ingress together, in one message (ingress -> router).

    The ingress may let requests arriving within a few milliseconds share one AMQP message and one
    confirm (``OMNI_INGRESS_SHARE_MS``); each delivery keeps its own id, channel, arrival time and
    verified flag, and the router treats each on its own (one bad delivery is dead-lettered alone, as
    a plain ``RawWebhook``). A plain ``RawWebhook`` on the wire decodes as a batch of one, so the raw
    queue may carry both forms (a shared window of one body, replayed dead letters, older ingresses).
    """

    type: Literal["webhook.raw.batch"] = "webhook.raw.batch"
    version: Literal[1] = 1
    deliveries: tuple[RawWebhook, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _single_delivery(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") == "webhook.raw":
            return {"type": "webhook.raw.batch", "version": 1, "deliveries": [data]}
        return data


def raw_webhook_fields(
    *, delivery_id: str, channel: Channel, received_at: datetime, body: bytes
) -> dict[str, Any]:
    """The JSON fields of a verified ``RawWebhook`` (shared by the single and the batch wire forms)."""
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    return {
        "type": "webhook.raw",
        "version": 1,
        "delivery_id": delivery_id,
        "channel": channel,
        "received_at": received_at.isoformat(),
        "signature_verified": True,
        "body": base64.urlsafe_b64encode(body).decode("ascii"),
    }


def encode_raw_webhook_batch(deliveries: list[dict[str, Any]]) -> bytes:
    """The wire form of a ``RawWebhookBatch`` of ``raw_webhook_fields`` dicts, without building models."""
    return orjson.dumps({"type": "webhook.raw.batch", "version": 1, "deliveries": deliveries})


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


def encode_routed_event(event: RoutedEvent) -> bytes:
    """The wire form of ``event``, written by orjson (the router's hot path: pydantic's serializer
    walks the payload value by value). Decodes to the same ``RoutedEvent`` as ``encode(event)``
    (tests hold it to that)."""
    try:
        return orjson.dumps(
            {
                "type": event.type,
                "version": event.version,
                "event_id": event.event_id,
                "delivery_id": event.delivery_id,
                "tenant_id": event.tenant_id,
                "channel": event.channel,
                "account_id": event.account_id,
                "received_at": event.received_at,
                "payload": event.payload,
            },
            option=orjson.OPT_UTC_Z,
        )
    except TypeError:  # what orjson cannot write (an integer beyond 64 bits): pydantic's way
        return event.model_dump_json().encode()


class RoutedEventBatch(Contract):
    """Routed events of ONE tenant and ONE channel, in one message (router -> normalizer).

    The router publishes the events of one tenant that one incoming message yielded together
    (``OMNI_ROUTER_BATCH_MAX_EVENTS`` / ``_MAX_BYTES``), so the broker handles one message and one
    confirm for them instead of one per event. One tenant, because the tenant shards hash the
    message's tenant header; one channel, so that the routing key (``event.routed.<channel>``), the
    ``x-omni-channel`` header (``omni dlq --channel``) and the log context stay true of every event
    in it. The normalizer handles each event on its own (one that cannot be written is dead-lettered
    alone as a plain ``RoutedEvent``). A plain ``RoutedEvent`` on the wire decodes as a batch of one:
    older routers' messages, and dead letters replayed, share the queue with batches.
    """

    type: Literal["event.routed.batch"] = "event.routed.batch"
    version: Literal[1] = 1
    tenant_id: uuid.UUID
    channel: Channel
    events: tuple[RoutedEvent, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _single_event(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") == "event.routed":
            return {
                "type": "event.routed.batch",
                "version": 1,
                "tenant_id": data.get("tenant_id"),
                "channel": data.get("channel"),
                "events": [data],
            }
        return data

    @model_validator(mode="after")
    def _one_tenant_and_channel(self) -> RoutedEventBatch:
        # Isolation, not style: the message's tenant header picks its shard and its tenant database.
        for event in self.events:
            if event.tenant_id != self.tenant_id or event.channel != self.channel:
                raise ValueError("every event of a batch has the batch's tenant and channel")
        return self


def encode_routed_batch(tenant_id: uuid.UUID, channel: Channel, events: Iterable[bytes]) -> bytes:
    """The wire form of a ``RoutedEventBatch`` from its events' own wire forms (``encode(event)``).

    The router encodes each event once (to bound a message's size) and joins the bytes: no second
    serialization of the payloads. Decodes to the same ``RoutedEventBatch`` as ``encode`` of the model
    (tests hold it to that).
    """
    head = orjson.dumps(
        {"type": "event.routed.batch", "version": 1, "tenant_id": tenant_id, "channel": channel}
    )
    return head[:-1] + b',"events":[' + b",".join(events) + b"]}"


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


class KeyedNotification(Contract):
    """One notification of a batch with its key: the stable id live inboxes give it as an event."""

    key: str = Field(min_length=1)
    event: NotificationEvent


class NotificationBatch(Contract):
    """One tenant's notifications offered together, in one message (publishers -> inbox replicas).

    Each keeps its own key, which plays the part a plain ``NotificationEvent``'s broker message id
    plays: the live event's id, the same on every replica. Inboxes understand both forms, so a plain
    event may still be published (and inboxes are upgraded before the publishers that batch).
    """

    type: Literal["notification.batch"] = "notification.batch"
    version: Literal[1] = 1
    tenant_id: uuid.UUID
    notes: tuple[KeyedNotification, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_tenant(self) -> NotificationBatch:
        # An inbox hands each note to the subscribers of the note's tenant; one tenant per batch
        # keeps a publisher's mistake from showing up as another tenant's live event.
        if any(n.event.tenant_id != self.tenant_id for n in self.notes):
            raise ValueError("every note of a batch belongs to the batch's tenant")
        return self


_NOTIFICATIONS: TypeAdapter[NotificationEvent | NotificationBatch] = TypeAdapter(
    Annotated[NotificationEvent | NotificationBatch, Field(discriminator="type")]
)


def notifications_in(body: bytes, message_id: str | None) -> list[tuple[str, NotificationEvent]]:
    """The (key, event) pairs of a message on the notifications exchange, in order.

    A plain event is keyed by its broker ``message_id`` ("" when it has none); a batch by its notes'
    keys. Raises ``pydantic.ValidationError`` for anything else.
    """
    message = _NOTIFICATIONS.validate_json(body)
    if isinstance(message, NotificationEvent):
        return [(message_id or "", message)]
    return [(n.key, n.event) for n in message.notes]


def encode_notification_batch(tenant_id: str, notes: Sequence[tuple[str, bytes]]) -> bytes:
    """The wire form of a ``NotificationBatch`` of (key, encoded ``NotificationEvent``) pairs.

    The events are spliced in as they were encoded, not parsed and encoded again (the publishers'
    hot path); decodes to the same batch as ``encode(NotificationBatch(...))`` (tests hold it to that).
    """
    parts = b",".join(b'{"key":%s,"event":%s}' % (orjson.dumps(key), body) for key, body in notes)
    return b'{"type":"notification.batch","version":1,"tenant_id":%s,"notes":[%s]}' % (
        orjson.dumps(tenant_id),
        parts,
    )
