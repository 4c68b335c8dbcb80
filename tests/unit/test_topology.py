"""build_topology is a pure function of settings values."""

from __future__ import annotations

import pytest

from omni_common.broker.topology import build_topology
from omni_common.contracts.routing import (
    AI_REQUESTS,
    OUTBOUND_COMMANDS,
    RAW_WEBHOOKS,
    ROUTED_EVENTS,
    STAGES,
    routing_key,
)


def test_stage_queues_are_quorum_with_dead_lettering_and_delivery_limit() -> None:
    topo = build_topology(retry_delays_ms=[200, 500], delivery_limit=4)
    queues = {q.name: q.arguments for q in topo.queues}
    assert queues["ingress.raw"] == {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": "omni.dlx",
        "x-dead-letter-routing-key": "ingress.raw",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        "x-delivery-limit": 4,
    }
    assert queues["ingress.raw.dlq"] == {"x-queue-type": "quorum"}
    assert queues["ingress.raw.retry.1"] == {
        "x-queue-type": "quorum",
        "x-message-ttl": 500,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "ingress.raw",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    # every stage: work queue + dlq + one retry queue per delay
    assert len(queues) == len(STAGES) * 4


def test_exchanges_and_bindings() -> None:
    topo = build_topology(retry_delays_ms=[1000], delivery_limit=10)
    assert {(e.name, e.type.value, e.durable) for e in topo.exchanges} == {
        ("omni.events", "topic", True),
        ("omni.dlx", "direct", True),
        ("omni.notifications", "fanout", True),
    }
    bindings = {(b.exchange, b.queue, b.routing_key) for b in topo.bindings}
    assert ("omni.events", "ingress.raw", "webhook.raw.*") in bindings
    assert ("omni.events", "normalizer.events", "event.routed.*") in bindings
    assert ("omni.events", "outbound.commands", "reply.send.*") in bindings
    assert ("omni.events", "ai.requests", "ai.suggest.*") in bindings
    assert ("omni.dlx", "ai.requests.dlq", "ai.requests") in bindings
    assert len(bindings) == 2 * len(STAGES)


def test_prefix_applies_to_every_name_but_not_routing_keys() -> None:
    topo = build_topology(retry_delays_ms=[1, 2, 3], delivery_limit=2, prefix="t1.")
    assert all(q.name.startswith("t1.") for q in topo.queues)
    assert all(e.name.startswith("t1.") for e in topo.exchanges)
    stage = topo.stage(ROUTED_EVENTS)
    assert stage == topo.stage("t1.normalizer.events")
    assert stage.retry_queues == tuple(f"t1.normalizer.events.retry.{i}" for i in range(3))
    assert stage.dlq == "t1.normalizer.events.dlq"
    assert stage.pattern == "event.routed.*"
    assert topo.stage_of_dlq("t1.normalizer.events.dlq") is stage
    assert topo.dlq_names == tuple(f"t1.{s}.dlq" for s in STAGES)
    assert {RAW_WEBHOOKS, ROUTED_EVENTS, OUTBOUND_COMMANDS, AI_REQUESTS} <= set(STAGES)


def test_same_values_give_equal_topologies() -> None:
    a = build_topology(retry_delays_ms=[200, 500], delivery_limit=4)
    assert a == build_topology(retry_delays_ms=[200, 500], delivery_limit=4)
    assert a != build_topology(retry_delays_ms=[200, 500], delivery_limit=5)


def test_routing_key() -> None:
    assert routing_key(RAW_WEBHOOKS, "whatsapp") == "webhook.raw.whatsapp"
    assert routing_key(OUTBOUND_COMMANDS, "instagram") == "reply.send.instagram"
    with pytest.raises(KeyError):
        routing_key("nope", "whatsapp")


@pytest.mark.parametrize(("delays", "limit"), [([0], 3), ([100], 0), ([-5], 1)])
def test_rejects_nonsense_values(delays: list[int], limit: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        build_topology(retry_delays_ms=delays, delivery_limit=limit)
