"""The broker topology as values: exchanges, stage queues, their retry and dead-letter queues.

Every stage queue ``Q`` is a durable quorum queue bound to ``omni.events``; failures go to
``Q.retry.<i>`` (TTL queues that dead-letter back into ``Q``) and finally to ``Q.dlq``. Crash loops
are caught by the quorum ``x-delivery-limit``, which dead-letters through ``omni.dlx`` into ``Q.dlq``.

A stage of ``SHARD_EXCHANGES`` given N > 0 shards (``shards={stage: N}``; ``normalizer.events``
and ``outbound.commands``) is reached from ``omni.events`` through a consistent-hash exchange
(``omni.normalizer.shards``, ``omni.outbound.shards``, hashing the tenant header) bound to N shard
queues ``<stage>.shard.<i>`` (``broker/shards.py``); their failures wait in
``<stage>.shards.retry.<i>``, which dead-letter into that exchange (back to the same shard), and end
in ``<stage>.dlq`` like before. ``<stage>`` stays declared but unbound: consumers drain what it held
before the switch and what its retry queues hand back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection, ExchangeType
from aio_pika.exceptions import ChannelNotFoundEntity, ChannelPreconditionFailed

from omni_common.broker.shards import TENANT_HEADER, shard_queue
from omni_common.contracts.routing import OUTBOUND_COMMANDS, ROUTED_EVENTS, ROUTING_PREFIXES
from omni_common.errors import OmniError

if TYPE_CHECKING:
    from omni_common.settings import Settings

log = structlog.get_logger(__name__)

EVENTS_EXCHANGE = "omni.events"
DLX_EXCHANGE = "omni.dlx"
NOTIFICATIONS_EXCHANGE = "omni.notifications"
# The stages that may be sharded by tenant, and the consistent-hash exchange in front of each.
SHARD_EXCHANGES: dict[str, str] = {
    ROUTED_EVENTS: "omni.normalizer.shards",
    OUTBOUND_COMMANDS: "omni.outbound.shards",
}
CONSISTENT_HASH = "x-consistent-hash"  # the rabbitmq_consistent_hash_exchange plugin's type


class TopologyError(OmniError):
    """The broker holds an exchange or queue that conflicts with the topology being declared."""


class TopologyMissing(OmniError):
    """A service that does not declare the topology found an exchange or queue it needs missing."""


# What a service running as a least-privilege user says when the topology is not there.
SETUP_COMMAND = "omni broker setup"


@dataclass(frozen=True)
class Exchange:
    """An exchange to declare."""

    name: str
    type: ExchangeType | str
    durable: bool = True
    arguments: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Queue:
    """A durable queue to declare, with its ``x-`` arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Binding:
    """A queue bound to an exchange with a routing key (or pattern)."""

    exchange: str
    queue: str
    routing_key: str


@dataclass(frozen=True)
class ExchangeBinding:
    """An exchange bound to another: ``source`` passes what matches ``routing_key`` to ``destination``."""

    source: str
    destination: str
    routing_key: str


@dataclass(frozen=True)
class StageQueues:
    """The names belonging to one stage: its work queue, retry queues and dead-letter queue."""

    stage: str
    queue: str
    pattern: str
    dlq: str
    retry_queues: tuple[str, ...]
    retry_delays_ms: tuple[int, ...]
    shard_of: str | None = None  # a shard's stage queue (``normalizer.events``)

    @property
    def metric_queue(self) -> str:
        """The queue label of metrics: a shard counts as its stage's queue (alerts and dashboards)."""
        return self.shard_of or self.queue


@dataclass(frozen=True)
class Topology:
    """Everything ``declare_topology`` creates; built by ``build_topology``."""

    prefix: str
    events_exchange: str
    dlx_exchange: str
    notifications_exchange: str
    delivery_limit: int
    exchanges: tuple[Exchange, ...]
    queues: tuple[Queue, ...]
    bindings: tuple[Binding, ...]
    stages: tuple[StageQueues, ...]
    exchange_bindings: tuple[ExchangeBinding, ...] = ()
    # Bindings an earlier topology made that this one must not keep (the unsharded route).
    stale_bindings: tuple[Binding, ...] = ()

    def shard_queues(self, stage: str) -> tuple[str, ...]:
        """The shard queues of ``stage`` (empty when it is not sharded)."""
        base = self.stage(stage).queue
        return tuple(s.queue for s in self.stages if s.stage == stage and s.queue != base)

    def stage(self, name: str) -> StageQueues:
        """Return the stage given its stage name (``ingress.raw``) or its (prefixed) queue name."""
        for s in self.stages:
            if name in (s.stage, s.queue):
                return s
        raise KeyError(f"no stage or stage queue named {name!r}")

    def queue_name(self, stage: str) -> str:
        """Return the work queue name of a stage (with the prefix applied)."""
        return self.stage(stage).queue

    @property
    def dlq_names(self) -> tuple[str, ...]:
        """Every dead-letter queue of the topology."""
        return tuple(dict.fromkeys(s.dlq for s in self.stages))  # shards share their stage's

    def stage_of_dlq(self, dlq: str) -> StageQueues:
        """Return the stage whose dead-letter queue is ``dlq``."""
        for s in self.stages:
            if dlq == s.dlq:
                return s
        raise KeyError(f"no dead-letter queue named {dlq!r}")


def _quorum(**extra: Any) -> dict[str, Any]:
    return {"x-queue-type": "quorum", **extra}


def build_topology(
    *,
    retry_delays_ms: list[int],
    delivery_limit: int,
    prefix: str = "",
    only_stages: Sequence[str] | None = None,
    shards: Mapping[str, int] | None = None,
) -> Topology:
    """Build the topology from settings values.

    ``prefix`` namespaces every name and ``only_stages`` keeps only some stages: tests use both to get
    queues of their own without making the broker carry a full topology per test.
    ``shards``: tenant shards per stage of ``SHARD_EXCHANGES`` (absent or 0: one queue, competing
    consumers).
    """
    shards = dict(shards or {})
    if delivery_limit < 1:
        raise ValueError("delivery_limit must be >= 1")
    if unknown := sorted(set(shards) - set(SHARD_EXCHANGES)):
        raise ValueError(f"stages that cannot be sharded: {', '.join(unknown)}")
    if any(n < 0 for n in shards.values()):
        raise ValueError("shard counts must be >= 0")
    if any(d <= 0 for d in retry_delays_ms):
        raise ValueError("retry delays must be positive")
    events, dlx, notifications = (prefix + n for n in (EVENTS_EXCHANGE, DLX_EXCHANGE, NOTIFICATIONS_EXCHANGE))
    exchanges: tuple[Exchange, ...] = (
        Exchange(events, ExchangeType.TOPIC),
        Exchange(dlx, ExchangeType.DIRECT),
        Exchange(notifications, ExchangeType.FANOUT),
    )
    queues: list[Queue] = []
    bindings: list[Binding] = []
    stages: list[StageQueues] = []
    exchange_bindings: list[ExchangeBinding] = []
    stale: list[Binding] = []
    for stage, rk_prefix in ROUTING_PREFIXES.items():
        if only_stages is not None and stage not in only_stages:
            continue
        name = prefix + stage
        dlq = f"{name}.dlq"
        pattern = f"{rk_prefix}.*"
        retry_names = tuple(f"{name}.retry.{i}" for i in range(len(retry_delays_ms)))
        queues.append(Queue(name, _work_queue(dlx, name, delivery_limit)))
        queues.append(Queue(dlq, _quorum()))
        for retry_name, delay in zip(retry_names, retry_delays_ms, strict=True):
            # Expired messages go back to the work queue through the default exchange.
            queues.append(Queue(retry_name, _retry_queue(delay, "", name)))
        count = shards.get(stage, 0)
        sharded = count > 0
        (stale if sharded else bindings).append(Binding(events, name, pattern))
        bindings.append(Binding(dlx, dlq, name))
        stages.append(StageQueues(stage, name, pattern, dlq, retry_names, tuple(retry_delays_ms)))
        if sharded:
            shards_ex = prefix + SHARD_EXCHANGES[stage]
            exchanges += (Exchange(shards_ex, CONSISTENT_HASH, arguments={"hash-header": TENANT_HEADER}),)
            exchange_bindings.append(ExchangeBinding(events, shards_ex, pattern))
            shard_retries = tuple(f"{name}.shards.retry.{i}" for i in range(len(retry_delays_ms)))
            for retry_name, delay in zip(shard_retries, retry_delays_ms, strict=True):
                # Back through the hash exchange: the copy keeps its tenant header, so its shard.
                queues.append(Queue(retry_name, _retry_queue(delay, shards_ex, None)))
            for i in range(count):
                shard = shard_queue(name, i)
                # Dead letters keep the stage's routing key: they land in the stage's one DLQ.
                queues.append(Queue(shard, _work_queue(dlx, name, delivery_limit)))
                # The routing key of a consistent-hash binding is the shard's weight on the ring.
                bindings.append(Binding(shards_ex, shard, "1"))
                stages.append(
                    StageQueues(
                        stage, shard, pattern, dlq, shard_retries, tuple(retry_delays_ms), shard_of=name
                    )
                )
    return Topology(
        prefix=prefix,
        events_exchange=events,
        dlx_exchange=dlx,
        notifications_exchange=notifications,
        delivery_limit=delivery_limit,
        exchanges=exchanges,
        queues=tuple(queues),
        bindings=tuple(bindings),
        stages=tuple(stages),
        exchange_bindings=tuple(exchange_bindings),
        stale_bindings=tuple(stale),
    )


def topology_for(settings: Settings) -> Topology:
    """The deployment's topology as its settings describe it: every service and ``omni`` command
    builds it here, so that all declare (and expect) the same queues and shards."""
    return build_topology(
        retry_delays_ms=settings.retry_delays_ms,
        delivery_limit=settings.delivery_limit,
        shards={ROUTED_EVENTS: settings.normalizer_shards, OUTBOUND_COMMANDS: settings.outbound_shards},
    )


def _work_queue(dlx: str, dead_letter_key: str, delivery_limit: int) -> dict[str, Any]:
    # At-least-once dead-lettering needs reject-publish overflow; it makes the broker republish
    # dead letters with confirms instead of dropping them when the target is unavailable.
    return _quorum(
        **{
            "x-dead-letter-exchange": dlx,
            "x-dead-letter-routing-key": dead_letter_key,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-delivery-limit": delivery_limit,
        }
    )


def _retry_queue(delay_ms: int, exchange: str, routing_key: str | None) -> dict[str, Any]:
    # routing_key None: the message keeps its own (a consistent-hash exchange ignores it anyway).
    key = {} if routing_key is None else {"x-dead-letter-routing-key": routing_key}
    return _quorum(
        **{
            "x-message-ttl": delay_ms,
            "x-dead-letter-exchange": exchange,
            **key,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }
    )


async def declare_topology(channel: AbstractChannel, topology: Topology) -> None:
    """Declare every exchange, queue and binding; re-running with the same values changes nothing."""
    kind, name = "exchange", ""
    try:
        for ex in topology.exchanges:
            kind, name = "exchange", ex.name
            await channel.declare_exchange(ex.name, ex.type, durable=ex.durable, arguments=ex.arguments)
        for q in topology.queues:
            kind, name = "queue", q.name
            await channel.declare_queue(q.name, durable=True, arguments=q.arguments)
        for b in topology.bindings:
            kind, name = "binding of queue", b.queue
            queue = await channel.get_queue(b.queue, ensure=False)
            await queue.bind(b.exchange, routing_key=b.routing_key)
        for eb in topology.exchange_bindings:
            kind, name = "binding of exchange", eb.destination
            destination = await channel.get_exchange(eb.destination, ensure=False)
            await destination.bind(eb.source, routing_key=eb.routing_key)
        # The new route is in place before the old one goes: no routed event finds neither.
        for b in topology.stale_bindings:
            kind, name = "old binding of queue", b.queue
            queue = await channel.get_queue(b.queue, ensure=False)
            await queue.unbind(b.exchange, routing_key=b.routing_key)
    except ChannelPreconditionFailed as exc:
        raise TopologyError(
            f"{kind} {name!r} already exists with different arguments ({exc}); run against a fresh "
            f"vhost or delete {name!r} first (its messages would be lost, so drain it before)"
        ) from exc
    log.info("topology_declared", prefix=topology.prefix, queues=len(topology.queues))


async def require_declared(
    connection: AbstractConnection, *, exchanges: Sequence[str] = (), queues: Sequence[str] = ()
) -> None:
    """Check passively (no permission needed, nothing created) that these exist; else TopologyMissing.

    For services started with ``OMNI_BROKER_DECLARE_TOPOLOGY=false``: their user may not declare,
    so the administrator's set-up must have run first.
    """
    missing: list[str] = []
    channel = await connection.channel()
    try:
        for kind, name in [*(("exchange", e) for e in exchanges), *(("queue", q) for q in queues)]:
            try:
                if kind == "exchange":
                    await channel.get_exchange(name, ensure=True)
                else:
                    await channel.declare_queue(name, passive=True)
            except ChannelNotFoundEntity:  # a passive declare of a missing entity closes the channel
                missing.append(f"{kind} {name!r}")
                channel = await connection.channel()
    finally:
        if not channel.is_closed:
            await channel.close()
    if missing:
        raise TopologyMissing(
            f"the broker has no {', '.join(missing)} in this vhost; this service does not declare the "
            f"topology (OMNI_BROKER_DECLARE_TOPOLOGY=false), so run `{SETUP_COMMAND}` as the broker's "
            "administrator first"
        )
