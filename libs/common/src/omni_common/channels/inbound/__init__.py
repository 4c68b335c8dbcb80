"""Inbound webhook parsing: ``split_delivery`` (tenant-router) and ``normalize`` (normalizer).

Pure functions, no I/O. ``split_delivery`` raises only ``MalformedDelivery``; ``normalize``
raises only ``MalformedEvent``; both for any input whatsoever.
"""

from omni_common.channels.inbound.errors import InboundError, MalformedDelivery, MalformedEvent
from omni_common.channels.inbound.model import (
    Ignored,
    InboundMessage,
    Interactive,
    Location,
    MediaRef,
    MessageDeleted,
    MessageEdited,
    MessageKind,
    NormalizedEvent,
    PlatformError,
    Reaction,
    RejectedItem,
    RoutableItem,
    SplitResult,
    StatusUpdate,
    TemplateStatusUpdate,
    WatermarkUpdate,
)
from omni_common.channels.inbound.normalize import normalize
from omni_common.channels.inbound.split import split_delivery

__all__ = [
    "Ignored",
    "InboundError",
    "InboundMessage",
    "Interactive",
    "Location",
    "MalformedDelivery",
    "MalformedEvent",
    "MediaRef",
    "MessageDeleted",
    "MessageEdited",
    "MessageKind",
    "NormalizedEvent",
    "PlatformError",
    "Reaction",
    "RejectedItem",
    "RoutableItem",
    "SplitResult",
    "StatusUpdate",
    "TemplateStatusUpdate",
    "WatermarkUpdate",
    "normalize",
    "split_delivery",
]
