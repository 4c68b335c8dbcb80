"""The normalizer's two subscriptions, and what follows a commit.

A routed event is written with the other events of its tenant (``handler.handle_routed_batch``
behind a ``KeyedBatcher``); once committed, its changes are counted and logged, the fetches they
need are requested (confirmed before the ack) and live inboxes are told (best effort). An
enrichment command does its fetch and tells live inboxes too.

Plain code over protocols of our own: ``main.py`` binds them to the broker, the unit tests to lists.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

import structlog

from normalizer.enrich import EnrichDeps, handle_enrich
from normalizer.metrics import WRITES
from normalizer.model import Change
from omni_common.broker.consumer import Delivery
from omni_common.broker.outcomes import DeadLetter, DeadLetterParts, Part
from omni_common.broker.subscription import TypedHandler
from omni_common.contracts import EnrichMessage, NotificationEvent, RoutedEvent, RoutedEventBatch, encode

log = structlog.get_logger(__name__)

# Hands an event to its tenant's next batch; its changes once that batch is committed.
Submit = Callable[[uuid.UUID, RoutedEvent], Awaitable[list[Change]]]


class EnrichRequests(Protocol):
    """Where requests for follow-up fetches go (the normalizer's own enrichment queue)."""

    async def request(self, command: EnrichMessage, *, correlation_id: str | None) -> None:
        """Publish ``command``; return once the broker has it (the event is acked after)."""
        ...


class Notifier(Protocol):
    """Where live notifications go (the inboxes' fan-out)."""

    def notify(self, event: NotificationEvent, *, key: str, correlation_id: str | None) -> None:
        """Queue ``event`` (``key``: its message id) and return at once: a lost one costs a refresh."""
        ...


def routed_event_handler(
    submit: Submit, enrich: EnrichRequests, notifier: Notifier
) -> TypedHandler[RoutedEventBatch]:
    """The ``normalizer.events`` handler: a message of one tenant's events (or a plain event).

    Each event joins its tenant's next batch on its own (so batches still form across messages) and
    is followed up once committed. The message is acked when all are: an event that can never be
    written is dead-lettered alone, as a plain ``RoutedEvent`` with its reason, its batch-mates
    committed (``DeadLetterParts``); any other failure of any event retries the whole message
    (harmless: every write is keyed on the platform's ids, the committed ones change nothing again).
    """

    async def one(event: RoutedEvent) -> None:
        # Each event's own task: its log lines carry its delivery, as when it travelled alone.
        structlog.contextvars.bind_contextvars(correlation_id=event.delivery_id)
        changes = await submit(event.tenant_id, event)
        await after_commit(event, changes, correlation_id=event.delivery_id, enrich=enrich, notifier=notifier)

    async def handle(batch: RoutedEventBatch, delivery: Delivery) -> None:
        if len(batch.events) == 1:
            outcomes: list[BaseException | None] = [await _outcome(one(batch.events[0]))]
        else:
            outcomes = list(await asyncio.gather(*(_outcome(one(e)) for e in batch.events)))
        failed = [o for o in outcomes if o is not None and not isinstance(o, DeadLetter)]
        if failed:
            raise failed[0]
        dead = [(e, o) for e, o in zip(batch.events, outcomes, strict=True) if isinstance(o, DeadLetter)]
        if dead:
            raise DeadLetterParts(
                [Part(encode(e), e.event_id, e.delivery_id, exc.reason, exc.detail) for e, exc in dead]
            )

    return handle


async def _outcome(work: Awaitable[None]) -> BaseException | None:
    """None once ``work`` is done, or what it raised (cancellation still cancels)."""
    try:
        await work
    except Exception as exc:  # every event's outcome is weighed by the caller
        return exc
    return None


def enrichment_handler(
    deps: EnrichDeps, retry_delays: int, notifier: Notifier
) -> TypedHandler[EnrichMessage]:
    """The ``normalizer.enrich`` handler; ``retry_delays``: the queue's delayed retries."""

    async def handle(cmd: EnrichMessage, delivery: Delivery) -> None:
        change = await handle_enrich(cmd, deps, final_attempt=delivery.attempt > retry_delays)
        if change is not None:
            key = f"{cmd.message_id}:{cmd.what}:done"
            notifier.notify(
                notification(cmd.tenant_id, change), key=key, correlation_id=delivery.correlation_id
            )

    return handle


async def after_commit(
    event: RoutedEvent,
    changes: list[Change],
    *,
    correlation_id: str | None,
    enrich: EnrichRequests,
    notifier: Notifier,
) -> None:
    """Count and log ``event``'s committed changes, request their fetches, tell live inboxes."""
    requests: list[Awaitable[None]] = []
    for change in changes:
        WRITES.labels(event.channel, change.kind).inc()
        # Logged here, not in the batch: the delivery's correlation id is bound in this context.
        if change.kind == "message.created":
            log.info(
                "event_stored", chat_message_id=str(change.message_id), external_message_id=change.external_id
            )
        elif change.kind == "message.status":
            log.info(
                "status_applied", chat_message_id=str(change.message_id), status=change.data.get("status")
            )
        if change.message_id is None:
            continue  # only message changes ask for fetches
        for what in change.enrich:
            command = EnrichMessage(
                tenant_id=event.tenant_id,
                message_id=change.message_id,
                channel=event.channel,
                account_id=event.account_id,
                what=what,
            )
            requests.append(enrich.request(command, correlation_id=correlation_id))
    if requests:
        # Confirmed before the ack (their confirms pipelined); if one fails, the retried event asks
        # again, and the enrichment handler is idempotent.
        await asyncio.gather(*requests)
    for change in changes:
        if change.kind != "message.existing":
            key = f"{event.event_id}:{change.message_id}"
            notifier.notify(notification(event.tenant_id, change), key=key, correlation_id=correlation_id)


def notification(tenant_id: uuid.UUID, change: Change) -> NotificationEvent:
    """What live inboxes hear of a change (a repeat, ``message.existing``, is never announced)."""
    kind = change.kind
    if kind == "message.existing":
        raise ValueError("a repeated message changes nothing to announce")
    return NotificationEvent(
        tenant_id=tenant_id,
        kind=kind,
        chat_id=change.chat_id,
        message_id=change.message_id,
        data=change.data,
        occurred_at=datetime.now(UTC),
    )
