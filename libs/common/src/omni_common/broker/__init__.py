"""Broker plumbing: topology, confirmed publishing, consumers with retries and dead letters."""

from __future__ import annotations

from omni_common.broker.connection import connect, install_signal_handlers
from omni_common.broker.consumer import ConsumerRunner, Delivery, Handler
from omni_common.broker.dlq import DeadLetterInfo, ReplayReport, list_dead_letters, replay, show
from omni_common.broker.outcomes import BrokerError, DeadLetter, DeadLetterParts, PublishError, Retry
from omni_common.broker.publisher import Publisher
from omni_common.broker.topology import (
    Topology,
    TopologyError,
    build_topology,
    declare_topology,
    topology_for,
)

__all__ = [
    "BrokerError",
    "ConsumerRunner",
    "DeadLetter",
    "DeadLetterInfo",
    "DeadLetterParts",
    "Delivery",
    "Handler",
    "PublishError",
    "Publisher",
    "ReplayReport",
    "Retry",
    "Topology",
    "TopologyError",
    "build_topology",
    "connect",
    "declare_topology",
    "install_signal_handlers",
    "list_dead_letters",
    "replay",
    "show",
    "topology_for",
]
