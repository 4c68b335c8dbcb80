"""Who may do what on the broker: each service's RabbitMQ permissions, derived from the topology.

RabbitMQ grants a user three regular expressions per vhost, matched against resource names:
``configure`` (declare, delete), ``write`` (publish to an exchange, bind a queue) and ``read``
(consume, purge, bind from an exchange). Services run with these least-privilege users once the
broker administrator has declared the topology (``omni broker setup``); then none of them may
declare, delete or purge any shared exchange or queue, read a queue that is not its own, or publish
where it never publishes. Topic permissions narrow further the routing keys a service may publish
with on the topic exchange ``omni.events`` (the ingress only ``webhook.raw.*``, ...).

Two grants are wider than the names they serve, and say so here:
* ``amq.default`` (the default exchange): a failed delivery's copy goes to its retry or dead-letter
  queue through it (``Publisher.publish_to_queue``), and the suggester answers the inbox's direct
  reply-to there. RabbitMQ checks only the exchange, so a user who may write to it may publish
  to any queue of the vhost by name; every consuming service needs it.
* ``amq.gen-*`` and ``amq_<uuid hex>``: the inbox's live-event hub declares one exclusive queue
  without a name per replica (and binds it to ``omni.notifications``); the pattern matches every
  such queue, but an exclusive queue belongs to the connection that made it: no other can touch it.

Pure values (no broker objects): unit-tested in tests/unit/test_broker_permission_matrix.py, shown in
docs/security.md, applied by ``omni_common.broker.users``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from omni_common.broker.topology import Topology
from omni_common.contracts.routing import (
    AI_REQUESTS,
    ENRICH_MESSAGES,
    OUTBOUND_COMMANDS,
    RAW_WEBHOOKS,
    ROUTED_EVENTS,
    ROUTING_PREFIXES,
)

DEFAULT_EXCHANGE = "amq.default"  # the name permissions give the default ("") exchange
# Queues declared without a name: the broker calls them ``amq.gen-…``, but aio-pika's robust
# channels name them ``amq_<uuid hex>`` themselves (to declare them again after a reconnect).
UNNAMED_QUEUES = r"^(amq\.gen-.*|amq_[0-9a-f]{32})$"
NOTHING = "^$"  # matches no resource name
MANAGEMENT = "management"  # user tag: may read its vhosts' queue depths from the management API

SERVICES: tuple[str, ...] = (
    "ingress-webhooks",
    "tenant-router",
    "normalizer",
    "outbound-sender",
    "ai-suggester",
    "account-monitor",
    "inbox-api",
)


@dataclass(frozen=True)
class Grant:
    """One service's permissions on the deployment's vhost.

    ``topic_write``: the routing keys it may publish with on the events exchange (None: it never
    publishes there). ``tags``: the user's tags; ``management`` lets a worker's ``/metrics`` read
    queue depths (the management API shows it its vhost's queues, and lets it change nothing its
    permissions do not allow). ``broker_user``: False for a service that never connects.
    """

    configure: str
    write: str
    read: str
    topic_write: str | None = None
    tags: tuple[str, ...] = ()
    broker_user: bool = True


def names(items: Iterable[str]) -> str:
    """A regex matching exactly these names (``^$`` for none)."""
    unique = list(dict.fromkeys(items))
    if not unique:
        return NOTHING
    return "^(" + "|".join(re.escape(n) for n in unique) + ")$"


def _either(*patterns: str) -> str:
    kept = [p for p in patterns if p != NOTHING]
    if not kept:
        return NOTHING
    return kept[0] if len(kept) == 1 else "|".join(kept)


def _keys(*stages: str) -> str:
    """Routing keys of ``stages`` on the events exchange: ``<prefix>.<channel>``."""
    return "^(" + "|".join(re.escape(ROUTING_PREFIXES[s]) for s in stages) + r")\.[a-z]+$"


def _consumed(topology: Topology, stage: str) -> list[str]:
    """The queues a consumer of ``stage`` reads: its work queue and, sharded, every shard."""
    return [s.queue for s in topology.stages if s.stage == stage]


def service_grants(topology: Topology) -> dict[str, Grant]:
    """Every service's grant on ``topology``'s vhost (names carry the topology's prefix)."""
    events = topology.events_exchange
    notes = topology.notifications_exchange
    worker = (MANAGEMENT,)  # workers report queue depths on /metrics
    return {
        "ingress-webhooks": Grant(NOTHING, names([events]), NOTHING, _keys(RAW_WEBHOOKS)),
        "tenant-router": Grant(
            NOTHING,
            names([events, DEFAULT_EXCHANGE]),
            names(_consumed(topology, RAW_WEBHOOKS)),
            _keys(ROUTED_EVENTS),
            worker,
        ),
        "normalizer": Grant(
            NOTHING,
            names([events, notes, DEFAULT_EXCHANGE]),
            names(_consumed(topology, ROUTED_EVENTS) + _consumed(topology, ENRICH_MESSAGES)),
            _keys(ENRICH_MESSAGES),
            worker,
        ),
        # Its outbox sweeper publishes reply commands the inbox could not (outbound/outbox.py).
        "outbound-sender": Grant(
            NOTHING,
            names([events, notes, DEFAULT_EXCHANGE]),
            names(_consumed(topology, OUTBOUND_COMMANDS)),
            _keys(OUTBOUND_COMMANDS),
            worker,
        ),
        # Answers go to the asker's direct reply-to queue through the default exchange.
        "ai-suggester": Grant(
            NOTHING, names([DEFAULT_EXCHANGE]), names(_consumed(topology, AI_REQUESTS)), None, worker
        ),
        # Reads tenant databases and Graph only.
        "account-monitor": Grant(NOTHING, NOTHING, NOTHING, broker_user=False),
        # Publishes reply commands and suggestion requests, and live events to the other replicas;
        # its hub's queue is its own (declared, bound to the notifications exchange, consumed).
        "inbox-api": Grant(
            UNNAMED_QUEUES,
            _either(names([events, notes]), UNNAMED_QUEUES),
            _either(names([notes]), UNNAMED_QUEUES),
            _keys(OUTBOUND_COMMANDS, AI_REQUESTS),
        ),
    }


def password_variable(service: str) -> str:
    """The environment variable holding ``service``'s broker password (``omni broker setup``)."""
    return "OMNI_BROKER_PASSWORD_" + service.upper().replace("-", "_")


def user_name(service: str, prefix: str = "omni-") -> str:
    """The broker user of ``service`` (a prefix per deployment when several share one broker)."""
    return prefix + service
