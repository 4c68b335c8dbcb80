"""Route one raw delivery: split it, resolve each item's tenant, emit routed or refused items."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from omni_common.broker import headers as h
from omni_common.broker.consumer import Delivery
from omni_common.broker.outcomes import DeadLetter
from omni_common.channels.inbound import MalformedDelivery, split_delivery
from omni_common.contracts import RawWebhook, RawWebhookBatch, RoutedEvent, reasons
from tenant_router.batches import BatchLimits, RoutedBatch, pack
from tenant_router.decisions import AccountRoute, Refused, decide

log = structlog.get_logger(__name__)

# Header naming the only items of a delivery to route (a dead-lettered item of a batch, replayed).
ONLY_ITEMS = "x-omni-only-items"

Resolve = Callable[[str, str], Awaitable[AccountRoute | None]]
# One message of routed events (one tenant, one channel) -> published, confirmed.
EmitRouted = Callable[[RoutedBatch], Awaitable[None]]
# (raw delivery, item index, reason, detail, account id) -> dead-lettered, confirmed.
EmitRefused = Callable[[RawWebhook, str, str, str, str | None], Awaitable[None]]
# (raw delivery, reason, detail) -> the whole delivery dead-lettered on its own, confirmed.
EmitDead = Callable[[RawWebhook, str, str], Awaitable[None]]


def only_items(headers: Mapping[str, Any]) -> frozenset[str] | None:
    """The item positions a replayed dead letter is limited to; None: the whole delivery."""
    only = h.text(headers.get(ONLY_ITEMS))
    return frozenset(only.split(",")) if only else None


@dataclass(frozen=True)
class Refusal:
    """An item no tenant may receive: dead-lettered on its own, with the whole signed delivery."""

    index: str
    reason: str
    detail: str
    account_id: str | None


@dataclass
class RoutedDelivery:
    """What one delivery yields: its routed events and its refused items (nothing emitted yet)."""

    raw: RawWebhook
    routed: list[RoutedEvent] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


async def handle_raw_webhook(
    batch: RawWebhookBatch,
    delivery: Delivery,
    *,
    resolve: Resolve,
    emit_routed: EmitRouted,
    emit_refused: EmitRefused,
    emit_dead: EmitDead,
    limits: BatchLimits,
) -> None:
    """The ``ingress.raw`` handler: route every delivery of the message, each on its own.

    A message of one delivery is today's ``RawWebhook``: a delivery that cannot be read dead-letters
    the message itself, and a replayed dead letter may name the only items to route. In a shared
    message, such a delivery is dead-lettered alone (as a ``RawWebhook`` with its reason) and the
    others are routed. The routed events of the whole message go out packed per tenant and channel
    (``batches.pack``: one message and one confirm per pack). Returns only once every effect is
    confirmed; any other failure fails the whole message, which is retried (re-routing a delivery
    is harmless: event ids are stable and the normalizer is idempotent), and dead letters of whole
    deliveries are only written on the attempt that succeeds.
    """
    dead: list[tuple[RawWebhook, DeadLetter]] = []
    if len(batch.deliveries) == 1:
        routings = [
            await route_delivery(
                batch.deliveries[0], resolve=resolve, only_items=only_items(delivery.headers)
            )
        ]
    else:

        async def one(raw: RawWebhook) -> RoutedDelivery:
            structlog.contextvars.bind_contextvars(correlation_id=raw.delivery_id, channel=raw.channel)
            return await route_delivery(raw, resolve=resolve)

        outcomes = await asyncio.gather(*(one(raw) for raw in batch.deliveries), return_exceptions=True)
        failed = [o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, DeadLetter)]
        if failed:
            raise failed[0]
        routings = [o for o in outcomes if isinstance(o, RoutedDelivery)]
        dead = [
            (raw, o) for raw, o in zip(batch.deliveries, outcomes, strict=True) if isinstance(o, DeadLetter)
        ]

    packs = pack((e for r in routings for e in r.routed), limits, correlation_id=delivery.correlation_id)
    # Published concurrently (pipelined confirms); any failure fails the whole message, which is
    # then retried: re-emitting an event is harmless because the normalizer is idempotent.
    await asyncio.gather(
        *(emit_routed(p) for p in packs),
        *(
            emit_refused(r.raw, f.index, f.reason, f.detail, f.account_id)
            for r in routings
            for f in r.refused
        ),
    )
    for raw, refusal in dead:
        log.warning(
            "delivery_dead_lettered",
            correlation_id=raw.delivery_id,
            reason=refusal.reason,
            detail=refusal.detail,
        )
    await asyncio.gather(*(emit_dead(raw, refusal.reason, refusal.detail) for raw, refusal in dead))
    log.debug(
        "message_routed",
        deliveries=len(batch.deliveries),
        routed=sum(len(r.routed) for r in routings),
        messages=len(packs),
        refused=sum(len(r.refused) for r in routings),
        dead_lettered=len(dead),
    )


async def route_delivery(
    raw: RawWebhook, *, resolve: Resolve, only_items: frozenset[str] | None = None
) -> RoutedDelivery:
    """Split ``raw`` and resolve every item's tenant: which are routed, which refused and why.

    ``only_items`` restricts the work to some positions: a replayed dead letter of one item of a
    batch carries the whole signed body but must not re-route its siblings.
    """
    if not raw.signature_verified:
        raise DeadLetter(reasons.UNVERIFIED, "raw event without a verified signature")
    try:
        split = split_delivery(raw.channel, raw.body)
    except MalformedDelivery as exc:
        raise DeadLetter(reasons.MALFORMED, f"{exc.reason_code}: {exc.detail}") from exc

    result = RoutedDelivery(raw)

    def refuse(index: str, reason: str, detail: str, account_id: str | None) -> None:
        log.warning("event_refused", index=index, reason=reason, detail=detail, account_id=account_id)
        result.refused.append(Refusal(index, reason, detail, account_id))

    for rejected in split.rejects:
        if only_items is None or rejected.index in only_items:
            refuse(rejected.index, rejected.reason_code, rejected.detail, None)

    for item in split.items:
        if only_items is not None and item.index not in only_items:
            continue
        decision = decide(
            await resolve(raw.channel, item.account_id), channel=raw.channel, account_id=item.account_id
        )
        if isinstance(decision, Refused):
            refuse(item.index, decision.reason, decision.detail, item.account_id)
            continue
        result.routed.append(
            RoutedEvent(
                event_id=f"{raw.delivery_id}:{item.index}",
                delivery_id=raw.delivery_id,
                tenant_id=decision.tenant_id,
                channel=raw.channel,
                account_id=item.account_id,
                received_at=raw.received_at,
                payload=item.payload,
            )
        )
    return result
