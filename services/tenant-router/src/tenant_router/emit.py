"""The router's broker side: routed events to the normalizer, refused items to the raw queue's DLQ."""

from __future__ import annotations

from collections.abc import Mapping

from omni_common.broker import headers as h
from omni_common.broker.publisher import Publisher
from omni_common.broker.shards import TENANT_HEADER
from omni_common.broker.topology import Topology
from omni_common.contracts import RawWebhook, encode
from omni_common.contracts.routing import RAW_WEBHOOKS, ROUTED_EVENTS, routing_key
from tenant_router.batches import RoutedBatch
from tenant_router.handler import ONLY_ITEMS
from tenant_router.metrics import EVENTS


class BrokerEmitter:
    """``emit_routed`` and ``emit_refused`` of ``route_delivery``, each returning once confirmed."""

    def __init__(self, publisher: Publisher, topology: Topology) -> None:
        self._publisher = publisher
        self._raw = topology.stage(RAW_WEBHOOKS)

    async def routed(self, batch: RoutedBatch) -> None:
        """One message of one tenant's routed events (a ``RoutedEventBatch``), once confirmed."""
        await self._publisher.publish(
            routing_key(ROUTED_EVENTS, batch.channel),
            batch.body,
            message_id=batch.message_id,
            correlation_id=batch.correlation_id,
            headers={TENANT_HEADER: str(batch.tenant_id), "x-omni-channel": batch.channel},
        )
        EVENTS.labels(batch.channel, "routed").inc(len(batch.events))

    async def refused(
        self, raw: RawWebhook, index: str, reason: str, detail: str, account_id: str | None
    ) -> None:
        # The whole signed delivery is kept, limited to this item on replay.
        extra = {ONLY_ITEMS: index, "x-omni-channel": raw.channel, "x-omni-account-id": account_id or ""}
        await self._dead_letter(raw, extra, reason, detail, message_id=f"{raw.delivery_id}:{index}")

    async def dead_lettered(self, raw: RawWebhook, reason: str, detail: str) -> None:
        """One delivery of a shared message that cannot be read, dead-lettered alone as a ``RawWebhook``
        (its batch-mates are routed): ``omni dlq`` shows and replays it like any raw dead letter."""
        extra = {"x-omni-channel": raw.channel}
        await self._dead_letter(raw, extra, reason, detail, message_id=raw.delivery_id)

    async def _dead_letter(
        self, raw: RawWebhook, extra: Mapping[str, str], reason: str, detail: str, *, message_id: str
    ) -> None:
        hdrs = h.dead_letter_headers(
            extra,
            reason=reason,
            detail=detail,
            source_queue=self._raw.queue,
            routing_key=routing_key(RAW_WEBHOOKS, raw.channel),
        )
        await self._publisher.publish_to_queue(
            self._raw.dlq, encode(raw), message_id=message_id, correlation_id=raw.delivery_id, headers=hdrs
        )
        EVENTS.labels(raw.channel, reason).inc()
