"""Message contracts between services, versioned; the one place publisher and consumer agree on.

Each contract is a frozen pydantic model with ``extra="forbid"`` and a ``type``/``version`` pair, so
a message of the wrong kind or version fails validation loudly instead of being half-understood.
"""

from omni_common.contracts import reasons
from omni_common.contracts.assistant import AssistantDocument, SuggestionReply, SuggestReply
from omni_common.contracts.base import Contract, decode, encode
from omni_common.contracts.commands import EnrichMessage, SendReply
from omni_common.contracts.events import (
    KeyedNotification,
    NotificationBatch,
    NotificationEvent,
    RawWebhook,
    RawWebhookBatch,
    RoutedEvent,
    RoutedEventBatch,
    encode_notification_batch,
    encode_raw_webhook,
    encode_routed_batch,
    encode_routed_event,
    notifications_in,
)
from omni_common.domain.channels import Channel

__all__ = [
    "AssistantDocument",
    "Channel",
    "Contract",
    "EnrichMessage",
    "KeyedNotification",
    "NotificationBatch",
    "NotificationEvent",
    "RawWebhook",
    "RawWebhookBatch",
    "RoutedEvent",
    "RoutedEventBatch",
    "SendReply",
    "SuggestReply",
    "SuggestionReply",
    "decode",
    "encode",
    "encode_notification_batch",
    "encode_raw_webhook",
    "encode_routed_batch",
    "encode_routed_event",
    "notifications_in",
    "reasons",
]
