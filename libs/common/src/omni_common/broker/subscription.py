"""Typed subscriptions: a queue, the contract its bodies carry, and the handler of that contract.

The worker base turns each subscription into a ``ConsumerRunner`` handler that decodes the body as
the contract first. A body that is not that contract is dead-lettered at once with one reason,
``malformed_contract``, and a short detail naming the fields that failed (never the body: it may hold
customers' messages). The handler only ever sees a valid value, with the delivery's metadata beside
it (attempt, correlation id, headers, reply-to). Outcomes stay the ``Retry``/``DeadLetter``
exceptions of ``broker/outcomes.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from pydantic import ValidationError

from omni_common.broker.consumer import Delivery, Handler
from omni_common.broker.outcomes import DeadLetter
from omni_common.broker.shards import score
from omni_common.broker.topology import Topology
from omni_common.contracts import reasons
from omni_common.contracts.base import Contract, decode

C = TypeVar("C", bound=Contract)

# The handler of one contract: the decoded value and the delivery it came in.
TypedHandler = Callable[[C, Delivery], Awaitable[None]]

_DETAIL_ERRORS = 3  # field errors named in a malformed contract's detail


@dataclass(frozen=True)
class Subscription(Generic[C]):
    """Consume ``queue`` (a stage name such as ``normalizer.events``, or its queue's name) as ``contract``."""

    queue: str
    contract: type[C]
    handler: TypedHandler[C]
    # The consumer's ``x-priority``: the broker delivers to the highest live one (``broker/shards.py``).
    priority: int | None = None


def with_shards(topology: Topology, subscription: Subscription[C], replica: str) -> list[Subscription[C]]:
    """``subscription`` and, when its stage is sharded, the same handler on every shard queue with
    this replica's rendezvous score as consumer priority: the broker gives each shard to its
    highest-scoring live replica (``broker/shards.py``). The stage's own queue stays consumed (no
    priority) so that what it held before the switch, and what its retry queues return, drains."""
    shards = topology.shard_queues(subscription.queue)
    return [subscription] + [
        Subscription(queue, subscription.contract, subscription.handler, priority=score(replica, i))
        for i, queue in enumerate(shards)
    ]


def delivery_handler(subscription: Subscription[Any]) -> Handler:
    """The consumer's handler for ``subscription``: decode, bind the log context, call the handler."""

    async def handle(delivery: Delivery) -> None:
        try:
            value = decode(subscription.contract, delivery.body)
        except ValidationError as exc:
            raise DeadLetter(
                reasons.MALFORMED_CONTRACT, malformed_detail(subscription.contract, exc)
            ) from exc
        # Unscoped on purpose: the consumer's own outcome lines (retry, dead letter) carry it too. Each
        # delivery runs in its own task, so it ends with the delivery.
        structlog.contextvars.bind_contextvars(**log_context(value))
        await subscription.handler(value, delivery)

    return handle


def log_context(value: Contract) -> dict[str, str]:
    """The tenant and channel of a contract that has them, for every log line of its handling."""
    context: dict[str, str] = {}
    tenant_id = getattr(value, "tenant_id", None)
    if tenant_id is not None:
        context["tenant_id"] = str(tenant_id)
    channel = getattr(value, "channel", None)
    if channel is not None:
        context["channel"] = str(channel)
    return context


def malformed_detail(contract: type[Contract], exc: ValidationError) -> str:
    """Which fields failed and how, e.g. ``not a SendReply: 2 errors (tenant_id: missing, ...)``.

    Built from the error locations and types only: pydantic's own message quotes the input.
    """
    named = [
        f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['type']}"
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    listed = ", ".join(named[:_DETAIL_ERRORS]) + (", ..." if len(named) > _DETAIL_ERRORS else "")
    count = exc.error_count()
    return f"not a {contract.__name__}: {count} error{'s' if count != 1 else ''} ({listed})"
