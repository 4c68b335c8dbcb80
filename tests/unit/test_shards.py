"""Tenant shards: rendezvous ownership (one owner per shard, little movement) and the sharded topology."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omni_common.broker.shards import MAX_PRIORITY, assignment, owner, score, shard_queue
from omni_common.broker.subscription import Subscription, with_shards
from omni_common.broker.topology import SHARD_EXCHANGES, build_topology, topology_for
from omni_common.contracts import RoutedEvent, SendReply
from omni_common.contracts.routing import OUTBOUND_COMMANDS, ROUTED_EVENTS, STAGES
from omni_common.settings import Settings

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-:.", min_size=1, max_size=24)
members = st.sets(names, min_size=1, max_size=12)
SHARDS = 64


@given(members, st.integers(min_value=0, max_value=1023))
def test_every_shard_has_exactly_one_top_replica(replicas: set[str], shard: int) -> None:
    # The broker delivers to the highest priority; distinct scores mean one replica above all others.
    scores = [score(r, shard) for r in replicas]
    assert all(1 <= s <= MAX_PRIORITY for s in scores)
    top = owner(replicas, shard)
    assert sum(1 for r in replicas if score(r, shard) == score(top, shard)) == 1
    assert score(top, shard) == max(scores)


@given(members, names)
def test_a_joining_replica_takes_shards_only_for_itself(replicas: set[str], newcomer: str) -> None:
    before = assignment(replicas, SHARDS)
    after = assignment(replicas | {newcomer}, SHARDS)
    moved = {s for s in range(SHARDS) if before[s] != after[s]}
    # Only shards that go to the newcomer move; nothing moves between the others.
    assert all(after[s] == newcomer for s in moved)


@given(st.sets(names, min_size=2, max_size=12), st.data())
def test_a_dying_replica_hands_only_its_own_shards_on(replicas: set[str], data: st.DataObject) -> None:
    dead = data.draw(st.sampled_from(sorted(replicas)))
    before = assignment(replicas, SHARDS)
    after = assignment(replicas - {dead}, SHARDS)
    for s in range(SHARDS):
        if before[s] != dead:
            assert after[s] == before[s]
        else:
            assert after[s] != dead


def test_spread_and_movement_on_join_are_about_one_in_n() -> None:
    # Measured, not assumed: 3 replicas over 8 and 1,024 shards, then a 4th joins.
    replicas = {f"normalizer-{i}" for i in range(3)}
    wide = assignment(replicas, 1024)
    counts = [sum(1 for o in wide.values() if o == r) for r in replicas]
    assert min(counts) > 1024 / 3 * 0.8
    assert max(counts) < 1024 / 3 * 1.2
    joined = assignment(replicas | {"normalizer-3"}, 1024)
    moved = sum(1 for s in wide if wide[s] != joined[s])
    assert 1024 / 4 * 0.8 < moved < 1024 / 4 * 1.2
    # With 8 shards the split is coarse: each of 3 replicas owns 1 to 5 of them (8/3 on average).
    eight = [sum(1 for o in assignment(replicas, 8).values() if o == r) for r in replicas]
    assert sum(eight) == 8


def test_scores_are_fixed_values() -> None:
    # The same in every process and release: a change would move every deployment's shards at once.
    assert score("normalizer-0", 0) == 1874833034
    assert score("normalizer-0", 1) == 1189006946


SHARDS_EXCHANGE = SHARD_EXCHANGES[ROUTED_EVENTS]


def test_sharded_topology_routes_through_a_consistent_hash_exchange() -> None:
    topo = build_topology(retry_delays_ms=[200, 500], delivery_limit=4, shards={ROUTED_EVENTS: 3})
    exchanges = {e.name: e for e in topo.exchanges}
    ring = exchanges[SHARDS_EXCHANGE]
    assert ring.type == "x-consistent-hash"
    assert ring.arguments == {"hash-header": "x-omni-tenant-id"}
    assert [(b.source, b.destination, b.routing_key) for b in topo.exchange_bindings] == [
        ("omni.events", SHARDS_EXCHANGE, "event.routed.*")
    ]
    bindings = {(b.exchange, b.queue, b.routing_key) for b in topo.bindings}
    # The old queue is no longer routed to (and the old binding is removed at declaration)...
    assert ("omni.events", "normalizer.events", "event.routed.*") not in bindings
    assert [(b.exchange, b.queue) for b in topo.stale_bindings] == [("omni.events", "normalizer.events")]
    # ...each shard weighs 1 on the ring...
    shards = tuple(shard_queue("normalizer.events", i) for i in range(3))
    assert topo.shard_queues(ROUTED_EVENTS) == shards
    assert {(SHARDS_EXCHANGE, q, "1") for q in shards} <= bindings
    queues = {q.name: q.arguments for q in topo.queues}
    assert queues[shards[0]] == queues["normalizer.events"]  # dead letters reach the stage's one DLQ
    # ...and a failed event waits in a shard retry queue that returns it through the ring.
    stage = topo.stage(shards[1])
    assert stage.stage == ROUTED_EVENTS
    assert stage.dlq == "normalizer.events.dlq"
    assert stage.retry_queues == ("normalizer.events.shards.retry.0", "normalizer.events.shards.retry.1")
    assert stage.metric_queue == "normalizer.events"  # alerts on the stage's name see its shards
    assert queues["normalizer.events.shards.retry.1"]["x-dead-letter-exchange"] == SHARDS_EXCHANGE
    assert "x-dead-letter-routing-key" not in queues["normalizer.events.shards.retry.1"]
    # The unsharded stage keeps its own names; the DLQ list has no duplicates.
    assert topo.stage(ROUTED_EVENTS).queue == "normalizer.events"
    assert topo.stage_of_dlq("normalizer.events.dlq").queue == "normalizer.events"
    assert len(topo.dlq_names) == len(set(topo.dlq_names))


def test_unsharded_topology_is_unchanged() -> None:
    topo = build_topology(retry_delays_ms=[200], delivery_limit=4)
    assert topo.exchange_bindings == ()
    assert topo.stale_bindings == ()
    assert topo.shard_queues(ROUTED_EVENTS) == ()


def test_with_shards_consumes_every_shard_with_this_replicas_scores() -> None:
    async def handle(event: RoutedEvent, delivery: object) -> None:
        return None

    sub = Subscription(ROUTED_EVENTS, RoutedEvent, handle)  # type: ignore[arg-type]
    topo = build_topology(retry_delays_ms=[200], delivery_limit=4, shards={ROUTED_EVENTS: 4})
    subs = with_shards(topo, sub, "replica-a")
    assert subs[0] is sub  # the old queue still drains
    assert [(s.queue, s.priority) for s in subs[1:]] == [
        (shard_queue("normalizer.events", i), score("replica-a", i)) for i in range(4)
    ]
    unsharded = build_topology(retry_delays_ms=[200], delivery_limit=4)
    assert with_shards(unsharded, sub, "replica-a") == [sub]


def test_the_outbound_stage_is_sharded_the_same_way_on_its_own_exchange() -> None:
    topo = build_topology(
        retry_delays_ms=[200, 500], delivery_limit=4, shards={ROUTED_EVENTS: 3, OUTBOUND_COMMANDS: 2}
    )
    ring = {e.name: e for e in topo.exchanges}["omni.outbound.shards"]
    assert ring.type == "x-consistent-hash"
    assert ring.arguments == {"hash-header": "x-omni-tenant-id"}
    assert {(b.source, b.destination, b.routing_key) for b in topo.exchange_bindings} == {
        ("omni.events", SHARDS_EXCHANGE, "event.routed.*"),
        ("omni.events", "omni.outbound.shards", "reply.send.*"),
    }
    assert {(b.exchange, b.queue) for b in topo.stale_bindings} == {
        ("omni.events", "normalizer.events"),
        ("omni.events", "outbound.commands"),
    }
    shards = topo.shard_queues(OUTBOUND_COMMANDS)
    assert shards == ("outbound.commands.shard.0", "outbound.commands.shard.1")
    bindings = {(b.exchange, b.queue, b.routing_key) for b in topo.bindings}
    assert {("omni.outbound.shards", q, "1") for q in shards} <= bindings
    assert not [b for b in topo.bindings if b.exchange == "omni.outbound.shards" and "normalizer" in b.queue]
    queues = {q.name: q.arguments for q in topo.queues}
    assert queues[shards[1]] == queues["outbound.commands"]  # dead letters reach outbound.commands.dlq
    stage = topo.stage(shards[0])
    assert (stage.stage, stage.dlq, stage.metric_queue) == (
        OUTBOUND_COMMANDS,
        "outbound.commands.dlq",
        "outbound.commands",
    )
    assert stage.retry_queues == ("outbound.commands.shards.retry.0", "outbound.commands.shards.retry.1")
    assert queues["outbound.commands.shards.retry.0"]["x-dead-letter-exchange"] == "omni.outbound.shards"
    assert "x-dead-letter-routing-key" not in queues["outbound.commands.shards.retry.0"]
    assert len(topo.dlq_names) == len(STAGES)  # one DLQ per stage, shards or not


def test_only_the_stages_with_a_shard_exchange_can_be_sharded() -> None:
    with pytest.raises(ValueError, match=r"cannot be sharded: ingress\.raw"):
        build_topology(retry_delays_ms=[200], delivery_limit=4, shards={"ingress.raw": 2})
    with pytest.raises(ValueError, match=">= 0"):
        build_topology(retry_delays_ms=[200], delivery_limit=4, shards={OUTBOUND_COMMANDS: -1})
    zero = build_topology(retry_delays_ms=[200], delivery_limit=4, shards={OUTBOUND_COMMANDS: 0})
    assert zero == build_topology(retry_delays_ms=[200], delivery_limit=4)


def test_the_topology_of_the_settings_shards_both_stages() -> None:
    settings = Settings(normalizer_shards=5, outbound_shards=3, retry_delays_ms=[100, 200], delivery_limit=7)
    topo = topology_for(settings)
    assert len(topo.shard_queues(ROUTED_EVENTS)) == 5
    assert len(topo.shard_queues(OUTBOUND_COMMANDS)) == 3
    assert topo.delivery_limit == 7
    assert topo.stage(OUTBOUND_COMMANDS).retry_delays_ms == (100, 200)
    assert topology_for(Settings()).exchange_bindings == ()  # off by default


def test_the_sender_consumes_its_shards_like_the_normalizer() -> None:
    async def handle(command: SendReply, delivery: object) -> None:
        return None

    sub = Subscription(OUTBOUND_COMMANDS, SendReply, handle)  # type: ignore[arg-type]
    topo = build_topology(retry_delays_ms=[200], delivery_limit=4, shards={OUTBOUND_COMMANDS: 3})
    subs = with_shards(topo, sub, "sender-a")
    assert [(s.queue, s.priority) for s in subs] == [("outbound.commands", None)] + [
        (shard_queue("outbound.commands", i), score("sender-a", i)) for i in range(3)
    ]
