"""The broker permission matrix: each service may touch what its role needs on the topology, nothing else.

RabbitMQ matches a permission's regex anywhere in a resource name (``re.search``), as checked here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from omni_common.broker.permissions import (
    DEFAULT_EXCHANGE,
    SERVICES,
    Grant,
    names,
    password_variable,
    service_grants,
)
from omni_common.broker.topology import SHARD_EXCHANGES, Topology, build_topology
from omni_common.contracts.routing import STAGES, routing_key
from omni_common.domain.channels import CHANNELS

SECURITY_MD = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def allows(pattern: str | None, name: str) -> bool:
    return pattern is not None and re.search(pattern, name) is not None


def topology(prefix: str = "", shards: int = 0) -> Topology:
    """Both shardable stages with ``shards`` shards (0: none)."""
    return build_topology(
        retry_delays_ms=[200, 500],
        delivery_limit=4,
        prefix=prefix,
        shards=dict.fromkeys(SHARD_EXCHANGES, shards),
    )


def every_name(topo: Topology) -> list[str]:
    return [e.name for e in topo.exchanges] + [q.name for q in topo.queues]


@pytest.fixture(params=[(0, ""), (4, ""), (4, "t1.")], ids=["unsharded", "sharded", "prefixed"])
def topo(request: pytest.FixtureRequest) -> Topology:
    shards, prefix = request.param
    return topology(prefix, shards)


def test_every_service_has_a_grant() -> None:
    assert set(service_grants(topology())) == set(SERVICES)


def test_no_service_may_declare_or_delete_anything_of_the_topology(topo: Topology) -> None:
    for service, grant in service_grants(topo).items():
        for name in every_name(topo):
            assert not allows(grant.configure, name), (service, name)


def test_only_the_inbox_declares_and_only_server_named_queues() -> None:
    grants = service_grants(topology())
    assert allows(grants["inbox-api"].configure, "amq.gen-JzTY20BRgKO-HjmUJj0wLg")
    assert allows(grants["inbox-api"].configure, "amq_" + "0ef72b1975784909bd24cb303d96c92b")
    assert not allows(grants["inbox-api"].configure, "amq_normalizer.events")
    assert not allows(grants["inbox-api"].configure, "amq.default")
    assert [s for s, g in grants.items() if g.configure != "^$"] == ["inbox-api"]


def test_each_consumer_reads_exactly_its_own_work_queues(topo: Topology) -> None:
    grants = service_grants(topo)
    expected = {
        "tenant-router": {"ingress.raw"},
        "normalizer": {"normalizer.events", "normalizer.enrich"}
        | {q.removeprefix(topo.prefix) for q in topo.shard_queues("normalizer.events")},
        "outbound-sender": {"outbound.commands"}
        | {q.removeprefix(topo.prefix) for q in topo.shard_queues("outbound.commands")},
        "ai-suggester": {"ai.requests"},
    }
    for service, grant in grants.items():
        readable = {q.name.removeprefix(topo.prefix) for q in topo.queues if allows(grant.read, q.name)}
        assert readable == expected.get(service, set()), service


def test_the_ingress_reads_no_queue_and_publishes_only_raw_webhooks(topo: Topology) -> None:
    ingress = service_grants(topo)["ingress-webhooks"]
    assert ingress.read == "^$"
    assert ingress.configure == "^$"
    assert [n for n in every_name(topo) if allows(ingress.write, n)] == [topo.events_exchange]
    assert not allows(ingress.write, DEFAULT_EXCHANGE)  # it cannot drop a copy straight into a queue
    for channel in CHANNELS:
        assert allows(ingress.topic_write, routing_key("ingress.raw", channel))
        for stage in STAGES[1:]:
            assert not allows(ingress.topic_write, routing_key(stage, channel)), stage


def test_nobody_reads_dead_letters_or_retry_queues(topo: Topology) -> None:
    waiting = set(topo.dlq_names) | {r for s in topo.stages for r in s.retry_queues}
    for service, grant in service_grants(topo).items():
        assert not [q for q in waiting if allows(grant.read, q)], service


def test_the_router_cannot_reach_the_normalizers_shards() -> None:
    topo = topology(shards=4)
    router = service_grants(topo)["tenant-router"]
    assert not allows(router.write, "omni.normalizer.shards")
    assert not [q for q in topo.shard_queues("normalizer.events") if allows(router.read, q)]
    # It publishes routed events on the events exchange, whose binding reaches the shards.
    assert allows(router.topic_write, "event.routed.whatsapp")
    assert not allows(router.topic_write, "reply.send.whatsapp")


def test_nobody_publishes_to_a_shard_exchange(topo: Topology) -> None:
    # Commands and routed events reach the shards through omni.events' bindings to the hash
    # exchanges: RabbitMQ checks write on the exchange published to only, and shard retry queues
    # dead-letter into them as the broker, so no user needs the hash exchanges at all.
    rings = [topo.prefix + name for name in SHARD_EXCHANGES.values()]
    for service, grant in service_grants(topo).items():
        assert not [r for r in rings if allows(grant.write, r) or allows(grant.read, r)], service


def test_the_sender_reads_its_shards_and_publishes_only_reply_commands() -> None:
    topo = topology(shards=4)
    sender = service_grants(topo)["outbound-sender"]
    assert [q for q in topo.queues if allows(sender.read, q.name)] == [
        q
        for q in topo.queues
        if q.name == "outbound.commands" or q.name.startswith("outbound.commands.shard.")
    ]
    assert allows(sender.write, DEFAULT_EXCHANGE)  # its retries and dead letters, by queue name
    assert allows(sender.topic_write, "reply.send.whatsapp")  # its outbox sweep
    assert not allows(sender.topic_write, "event.routed.whatsapp")


def test_the_inbox_publishes_commands_and_live_events_only() -> None:
    topo = topology()
    inbox = service_grants(topo)["inbox-api"]
    assert allows(inbox.write, "omni.events")
    assert allows(inbox.write, "omni.notifications")
    assert not allows(inbox.write, DEFAULT_EXCHANGE)
    assert not allows(inbox.write, "omni.dlx")
    assert not [q for q in topo.queues if allows(inbox.read, q.name)]
    assert allows(inbox.topic_write, "reply.send.whatsapp")
    assert allows(inbox.topic_write, "ai.suggest.facebook")
    assert not allows(inbox.topic_write, "event.routed.whatsapp")
    assert not allows(inbox.topic_write, "webhook.raw.whatsapp")


def test_the_suggester_only_answers_and_retries_through_the_default_exchange() -> None:
    suggester = service_grants(topology())["ai-suggester"]
    assert suggester.write == names([DEFAULT_EXCHANGE])
    assert suggester.topic_write is None


def test_the_account_monitor_gets_no_broker_user() -> None:
    monitor = service_grants(topology())["account-monitor"]
    assert monitor == Grant("^$", "^$", "^$", broker_user=False)


def test_a_prefixed_topology_grants_nothing_on_another_deployments_names() -> None:
    prefixed = service_grants(topology("t1.", 4))
    for service, grant in prefixed.items():
        for name in every_name(topology("", 4)):
            assert not allows(grant.read, name), (service, name)
            if name != DEFAULT_EXCHANGE:
                assert not allows(grant.write, name), (service, name)


def test_names_escape_dots() -> None:
    assert not allows(names(["omni.events"]), "omniXevents")
    assert names([]) == "^$"


def test_password_variables() -> None:
    assert password_variable("tenant-router") == "OMNI_BROKER_PASSWORD_TENANT_ROUTER"


def _cell(pattern: str | None) -> str:
    # A pipe inside a table cell is written \| even within a code span (GitHub's Markdown).
    return "—" if pattern in (None, "^$") else "`" + pattern.replace("|", "\\|") + "`"


def test_the_table_in_security_md_is_the_matrix() -> None:
    """docs/security.md shows the default deployment's grants (no prefix, unsharded) as they are."""
    text = SECURITY_MD.read_text()
    for service, grant in service_grants(topology()).items():
        row = (
            f"| {service} | {_cell(grant.configure)} | {_cell(grant.write)} | {_cell(grant.read)} "
            f"| {_cell(grant.topic_write)} |"
        )
        assert row in text, f"docs/security.md lacks the row {row}"
