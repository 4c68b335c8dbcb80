"""Pack routed events into messages: one tenant and one channel each, bounded in events and bytes.

Pure code (no broker objects): ``handler.py`` packs what one incoming message yielded, ``emit.py``
publishes each pack as one ``RoutedEventBatch`` with one confirm. Each event is serialized once,
here; its bytes both bound the message's size and become part of its body.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from omni_common.contracts import RoutedEvent, encode_routed_batch, encode_routed_event
from omni_common.domain.channels import Channel

# Room for the batch's own fields around its events (type, version, tenant, channel, brackets).
_ENVELOPE_BYTES = 160


@dataclass(frozen=True)
class BatchLimits:
    """At most ``max_events`` events per message, and no more than ``max_bytes`` of body unless a
    single event is larger (it then travels alone)."""

    max_events: int = 100
    max_bytes: int = 512 * 1024

    def __post_init__(self) -> None:
        if self.max_events < 1 or self.max_bytes < 1:
            raise ValueError("batch limits must be positive")


@dataclass(frozen=True)
class RoutedBatch:
    """One message to the normalizer: its events (in their arrival order) and its body (a
    ``RoutedEventBatch``, or the plain ``RoutedEvent`` when it holds one)."""

    tenant_id: uuid.UUID
    channel: Channel
    events: tuple[RoutedEvent, ...]
    body: bytes
    correlation_id: str | None

    @property
    def message_id(self) -> str:
        """Stable across retries of the incoming message: a batch of one is named by its event (as
        every routed message was before batches), a larger one by its first event and its size."""
        first = self.events[0].event_id
        return first if len(self.events) == 1 else f"{first}+{len(self.events) - 1}"


def pack(
    events: Iterable[RoutedEvent], limits: BatchLimits, *, correlation_id: str | None = None
) -> list[RoutedBatch]:
    """Group ``events`` by (tenant, channel), in first-seen order, split where a bound is reached.

    ``correlation_id``: the incoming message's; a batch whose events all come from one delivery
    takes that delivery's id instead (what the normalizer's logs were correlated by before batches).
    """
    open_: dict[tuple[uuid.UUID, Channel], tuple[list[RoutedEvent], list[bytes], int]] = {}
    done: list[RoutedBatch] = []

    def close(key: tuple[uuid.UUID, Channel]) -> None:
        members, parts, _ = open_.pop(key)
        done.append(_batch(key, members, parts, correlation_id))

    for event in events:
        key = (event.tenant_id, event.channel)
        encoded = encode_routed_event(event)
        current = open_.get(key)
        if current is not None:
            members, _, size = current
            if len(members) >= limits.max_events or size + 1 + len(encoded) > limits.max_bytes:
                close(key)
                current = None
        if current is None:
            open_[key] = ([event], [encoded], _ENVELOPE_BYTES + len(encoded))
        else:
            members, parts, size = current
            members.append(event)
            parts.append(encoded)
            open_[key] = (members, parts, size + 1 + len(encoded))
    for key in list(open_):
        close(key)
    return done


def _batch(
    key: tuple[uuid.UUID, Channel], members: list[RoutedEvent], parts: list[bytes], correlation_id: str | None
) -> RoutedBatch:
    tenant_id, channel = key
    deliveries = {e.delivery_id for e in members}
    return RoutedBatch(
        tenant_id=tenant_id,
        channel=channel,
        events=tuple(members),
        # A pack of one goes out as a plain RoutedEvent, as before batches (older normalizers read it).
        body=parts[0] if len(parts) == 1 else encode_routed_batch(tenant_id, channel, parts),
        correlation_id=next(iter(deliveries)) if len(deliveries) == 1 else correlation_id,
    )
