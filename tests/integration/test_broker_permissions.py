"""Least privilege on the real broker: after `omni broker setup`'s step, each service's own user can do
what its role needs and is refused (ACCESS_REFUSED) the rest; the inbound pipeline runs end to end
with every service on its own user, declaring nothing.

Each module run has its own vhost and its own user names (users are broker-wide), all removed after.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aio_pika
import httpx
import pytest
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from pg_second_server import whatsapp_text
from pipeline import Pipeline, WorkerThread, body_of, provision, sign, unique_digits, wait_until
from sandbox_server import serve
from testenv import APP_SECRET, Services, management_put
from typer.testing import CliRunner

from ingress_webhooks.main import build_apps
from normalizer.main import handler_factory as normalizer_handlers
from omni_cli.main import app
from omni_common.broker.permissions import SERVICES, user_name
from omni_common.broker.shards import TENANT_HEADER
from omni_common.broker.topology import Topology, TopologyMissing, require_declared, topology_for
from omni_common.broker.users import setup_broker
from omni_common.contracts import NotificationEvent, SendReply
from omni_common.contracts.routing import OUTBOUND_COMMANDS, routing_key
from omni_common.outbound.commands import reply_message
from omni_common.settings import Settings
from tenant_router.main import handler_factory as router_handlers

pytestmark = pytest.mark.integration

SHARDS = 2


@dataclass(frozen=True)
class Broker:
    """The private vhost after the set-up: each service's URL, and the admin's."""

    vhost: str
    admin_url: str
    urls: dict[str, str]
    passwords: dict[str, str]
    prefix: str
    topology: Topology


def _topology(settings: Settings) -> Topology:
    return topology_for(settings.model_copy(update={"normalizer_shards": SHARDS, "outbound_shards": SHARDS}))


@pytest.fixture(scope="module")
def broker(services: Services, namespace: str, settings: Settings) -> Iterator[Broker]:
    tag = secrets.token_hex(3)
    vhost = f"{namespace}-perm-{tag}"
    prefix = f"omnitest-{tag}-"
    api = httpx.Client(base_url=services.mgmt_url, auth=services.mgmt_auth, timeout=60)
    management_put(api, f"/api/vhosts/{quote(vhost, safe='')}")
    management_put(
        api,
        f"/api/permissions/{quote(vhost, safe='')}/{services.mgmt_auth[0]}",
        {"configure": ".*", "write": ".*", "read": ".*"},
    )
    admin_url = f"{services.amqp_base}/{quote(vhost, safe='')}"
    passwords = {s: secrets.token_urlsafe(12) for s in SERVICES}
    topology = _topology(settings)
    try:
        for _ in range(2):  # a second run changes nothing (idempotent)
            applied = asyncio.run(
                setup_broker(
                    rabbitmq_url=admin_url,
                    management_url=services.mgmt_url,
                    topology=topology,
                    passwords=passwords,
                    user_prefix=prefix,
                )
            )
        assert {a.service for a in applied} == set(SERVICES) - {"account-monitor"}
        host = services.amqp_base.rsplit("@", 1)[1]
        urls = {
            s: f"amqp://{user_name(s, prefix)}:{passwords[s]}@{host}/{quote(vhost, safe='')}"
            for s in SERVICES
        }
        yield Broker(vhost, admin_url, urls, passwords, prefix, topology)
    finally:
        for s in SERVICES:
            api.delete(f"/api/users/{quote(user_name(s, prefix), safe='')}")
        api.delete(f"/api/vhosts/{quote(vhost, safe='')}")
        api.close()


Op = Callable[[AbstractChannel], Awaitable[Any]]


async def _drop(message: AbstractIncomingMessage) -> None:
    return None


async def _ignore(message: AbstractIncomingMessage) -> None:
    await message.nack(requeue=True)


async def _try(url: str, op: Op) -> str:
    """``ok``, or the broker's refusal code (``ACCESS_REFUSED``...) of ``op`` on a fresh channel."""
    connection: AbstractRobustConnection = await aio_pika.connect_robust(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        try:
            await op(channel)
            # A refused publish closes the channel asynchronously: one more round trip surfaces it.
            await channel.declare_exchange("amq.direct", passive=True)
        except Exception as exc:  # the refusal's reply text names it
            text = repr(exc)
            for code in ("ACCESS_REFUSED", "NOT_FOUND"):
                if code in text:
                    return code
            raise
        return "ok"
    finally:
        await connection.close()


def attempt(url: str, op: Op) -> str:
    return asyncio.run(_try(url, op))


def publish(exchange: str, key: str) -> Op:
    async def op(channel: AbstractChannel) -> None:
        ex = (
            channel.default_exchange if exchange == "" else await channel.get_exchange(exchange, ensure=False)
        )
        await ex.publish(
            aio_pika.Message(b"{}", message_id=str(uuid.uuid4())), routing_key=key, mandatory=False
        )

    return op


def consume(queue: str) -> Op:
    async def op(channel: AbstractChannel) -> None:
        q = await channel.get_queue(queue, ensure=False)
        tag = await q.consume(_ignore, no_ack=False)
        await q.cancel(tag)

    return op


def declare_queue(name: str) -> Op:
    async def op(channel: AbstractChannel) -> None:
        await channel.declare_queue(name, durable=True)

    return op


def purge(queue: str) -> Op:
    async def op(channel: AbstractChannel) -> None:
        await (await channel.get_queue(queue, ensure=False)).purge()

    return op


def test_the_ingress_only_publishes_raw_webhooks(broker: Broker) -> None:
    url = broker.urls["ingress-webhooks"]
    assert attempt(url, publish("omni.events", routing_key("ingress.raw", "whatsapp"))) == "ok"
    assert attempt(url, consume("ingress.raw")) == "ACCESS_REFUSED"
    assert (
        attempt(url, publish("omni.events", routing_key("normalizer.events", "whatsapp"))) == "ACCESS_REFUSED"
    )
    assert attempt(url, publish("", "ingress.raw.dlq")) == "ACCESS_REFUSED"
    assert attempt(url, declare_queue("ingress.raw")) == "ACCESS_REFUSED"


def test_the_router_reads_raw_webhooks_and_not_the_normalizers_shards(broker: Broker) -> None:
    url = broker.urls["tenant-router"]
    assert attempt(url, consume("ingress.raw")) == "ok"
    assert attempt(url, publish("omni.events", routing_key("normalizer.events", "whatsapp"))) == "ok"
    assert attempt(url, publish("", "ingress.raw.retry.0")) == "ok"  # its failed deliveries' copies
    assert attempt(url, consume("normalizer.events.shard.0")) == "ACCESS_REFUSED"
    assert attempt(url, publish("omni.normalizer.shards", "x")) == "ACCESS_REFUSED"
    assert attempt(url, publish("omni.outbound.shards", "x")) == "ACCESS_REFUSED"
    assert (
        attempt(url, publish("omni.events", routing_key("outbound.commands", "whatsapp"))) == "ACCESS_REFUSED"
    )
    assert attempt(url, purge("ingress.raw.dlq")) == "ACCESS_REFUSED"
    assert attempt(url, declare_queue("ingress.raw")) == "ACCESS_REFUSED"


def test_the_workers_consume_their_queues_and_publish_their_follow_ups(broker: Broker) -> None:
    normalizer, sender, suggester = (
        broker.urls[s] for s in ("normalizer", "outbound-sender", "ai-suggester")
    )
    for queue in (
        "normalizer.events",
        "normalizer.events.shard.0",
        "normalizer.events.shard.1",
        "normalizer.enrich",
    ):
        assert attempt(normalizer, consume(queue)) == "ok", queue
    assert attempt(normalizer, publish("omni.events", routing_key("normalizer.enrich", "whatsapp"))) == "ok"
    assert attempt(normalizer, publish("omni.notifications", "")) == "ok"
    assert attempt(normalizer, consume("outbound.commands")) == "ACCESS_REFUSED"
    for queue in ("outbound.commands", "outbound.commands.shard.0", "outbound.commands.shard.1"):
        assert attempt(sender, consume(queue)) == "ok", queue
    # A failed send's copy waits in a shard retry queue; the broker, not the sender, returns it
    # through the hash exchange, which the sender itself may not publish to.
    assert attempt(sender, publish("", "outbound.commands.shards.retry.0")) == "ok"
    assert attempt(sender, consume("outbound.commands.shards.retry.0")) == "ACCESS_REFUSED"
    assert attempt(sender, publish("omni.outbound.shards", "x")) == "ACCESS_REFUSED"
    assert attempt(normalizer, consume("outbound.commands.shard.0")) == "ACCESS_REFUSED"
    assert attempt(sender, publish("omni.notifications", "")) == "ok"
    assert attempt(sender, publish("omni.events", routing_key("outbound.commands", "whatsapp"))) == "ok"
    assert attempt(sender, consume("ingress.raw")) == "ACCESS_REFUSED"
    assert attempt(suggester, consume("ai.requests")) == "ok"
    assert attempt(suggester, publish("", "ai.requests.retry.0")) == "ok"
    assert (
        attempt(suggester, publish("omni.events", routing_key("outbound.commands", "whatsapp")))
        == "ACCESS_REFUSED"
    )


def test_the_inbox_publishes_commands_and_keeps_its_own_live_queue(broker: Broker) -> None:
    url = broker.urls["inbox-api"]

    async def live_queue(channel: AbstractChannel) -> None:
        exchange = await channel.get_exchange("omni.notifications", ensure=True)
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True, durable=False)
        await queue.bind(exchange)
        tag = await queue.consume(_drop, no_ack=True)
        await queue.cancel(tag)

    async def direct_reply_to(channel: AbstractChannel) -> None:
        queue = await channel.get_queue("amq.rabbitmq.reply-to", ensure=False)
        await queue.consume(_drop, no_ack=True)

    assert attempt(url, live_queue) == "ok"
    assert attempt(url, direct_reply_to) == "ok"
    assert attempt(url, publish("omni.events", routing_key("outbound.commands", "whatsapp"))) == "ok"
    assert attempt(url, publish("omni.events", routing_key("ai.requests", "whatsapp"))) == "ok"
    assert attempt(url, publish("omni.notifications", "")) == "ok"
    assert (
        attempt(url, publish("omni.events", routing_key("normalizer.events", "whatsapp"))) == "ACCESS_REFUSED"
    )
    assert attempt(url, publish("", "outbound.commands")) == "ACCESS_REFUSED"
    assert attempt(url, consume("outbound.commands")) == "ACCESS_REFUSED"
    assert attempt(url, declare_queue("inbox.mine")) == "ACCESS_REFUSED"


def test_a_reply_command_reaches_its_tenants_sender_shard_with_write_on_omni_events_only(
    broker: Broker,
) -> None:
    """The inbox (and the sender's outbox sweep) publish on ``omni.events``; its binding to the hash
    exchange carries the command to a shard with no permission on the hash exchange."""
    url = broker.urls["inbox-api"]
    assert attempt(url, publish("omni.outbound.shards", "reply.send.whatsapp")) == "ACCESS_REFUSED"
    command = SendReply(tenant_id=uuid.uuid4(), message_id=uuid.uuid4(), channel="whatsapp")
    message = reply_message(command)

    async def send(channel: AbstractChannel) -> None:
        exchange = await channel.get_exchange("omni.events", ensure=False)
        await exchange.publish(
            aio_pika.Message(message.body, message_id=message.message_id, headers=dict(message.headers)),
            routing_key=message.routing_key,
        )

    assert attempt(url, send) == "ok"

    async def take() -> dict[str, Any]:
        """Where our command landed (the other tests' header-less ones sit on one shard: the hash of
        a missing header)."""
        connection = await aio_pika.connect_robust(broker.admin_url)
        try:
            channel = await connection.channel()
            found: dict[str, Any] = {}
            for queue in (*broker.topology.shard_queues(OUTBOUND_COMMANDS), "outbound.commands"):
                q = await channel.get_queue(queue, ensure=False)
                while (got := await q.get(fail=False)) is not None:
                    await got.ack()
                    if got.message_id == message.message_id:
                        found[queue] = got.headers
            return found
        finally:
            await connection.close()

    found = asyncio.run(take())
    assert len(found) == 1, found  # one shard, and the unsharded queue no longer bound
    [(queue, headers)] = found.items()
    assert queue.startswith("outbound.commands.shard.")
    assert headers[TENANT_HEADER] == str(command.tenant_id)


def test_workers_read_queue_depths_and_the_ingress_cannot(services: Services, broker: Broker) -> None:
    path = f"/api/queues/{quote(broker.vhost, safe='')}"
    for service, expected in (("normalizer", 200), ("ingress-webhooks", 401)):
        auth = (user_name(service, broker.prefix), broker.passwords[service])
        with httpx.Client(base_url=services.mgmt_url, auth=auth, timeout=10) as api:
            assert api.get(path).status_code == expected, service


def test_a_missing_queue_is_named_with_the_command_to_run(services: Services, broker: Broker) -> None:
    async def check() -> None:
        connection = await aio_pika.connect_robust(broker.urls["tenant-router"])
        try:
            await require_declared(connection, exchanges=["omni.events"], queues=["ingress.raw", "nope.q"])
        finally:
            await connection.close()

    with pytest.raises(TopologyMissing, match=r"queue 'nope\.q'.*omni broker setup"):
        asyncio.run(check())


def test_a_new_password_rotates_the_old_one_out(services: Services, broker: Broker) -> None:
    new = secrets.token_urlsafe(12)
    asyncio.run(
        setup_broker(
            rabbitmq_url=broker.admin_url,
            management_url=services.mgmt_url,
            topology=broker.topology,
            passwords={"ai-suggester": new},
            user_prefix=broker.prefix,
        )
    )
    old_url = broker.urls["ai-suggester"]
    with pytest.raises(Exception, match=r"ACCESS_REFUSED|authentication|Login"):
        attempt(old_url, consume("ai.requests"))
    new_url = old_url.replace(broker.passwords["ai-suggester"], new)
    assert attempt(new_url, consume("ai.requests")) == "ok"
    broker.passwords["ai-suggester"], broker.urls["ai-suggester"] = new, new_url


def test_the_pipeline_runs_with_every_service_on_its_own_user(settings: Settings, broker: Broker) -> None:
    own = {
        s: settings.model_copy(update={"rabbitmq_url": broker.urls[s], "broker_declare_topology": False})
        for s in SERVICES
    }
    waba = unique_digits()
    tenant = asyncio.run(provision(settings, f"perm{waba[-6:]}", {"whatsapp": waba}))

    def worker(service: str, factory: Any) -> WorkerThread:
        return WorkerThread(
            service,
            service=service,
            rabbitmq_url=broker.urls[service],
            topology=broker.topology,
            prefetch=20,
            build_handlers=factory,
            declare=False,
        )

    router = worker("tenant-router", router_handlers(own["tenant-router"]))
    normalizer = worker("normalizer", normalizer_handlers(own["normalizer"]))
    router.start()
    normalizer.start()
    try:
        apps = build_apps(own["ingress-webhooks"])
        with serve(apps.webhooks) as ingress_url, httpx.Client(base_url=ingress_url, timeout=10) as http:
            wamid = f"wamid.perm-{uuid.uuid4().hex[:10]}"
            body = body_of(whatsapp_text(waba, wamid, "least privilege works"))
            response = http.post(
                "/webhooks/whatsapp",
                content=body,
                headers={"X-Hub-Signature-256": sign(body, APP_SECRET), "Content-Type": "application/json"},
            )
            assert response.status_code == 200, response.text
            pipe = Pipeline(settings, broker.topology, ingress_url, "")
            rows = wait_until(
                lambda: pipe.messages(tenant.db_name, "external_message_id = %s", (wamid,)),
                timeout=30,
                what="the message row",
            )
            assert rows[0]["text"] == "least privilege works"
    finally:
        router.stop()
        normalizer.stop()
    assert router.error is None
    assert normalizer.error is None


def test_omni_broker_setup_wants_every_password_then_applies_them(
    services: Services, settings: Settings, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = structlog.get_config()  # the CLI logs onto CliRunner's captured stderr
    monkeypatch.setenv("OMNI_RABBITMQ_URL", broker.admin_url)
    monkeypatch.setenv("OMNI_RABBITMQ_MANAGEMENT_URL", services.mgmt_url)
    monkeypatch.setenv("OMNI_NORMALIZER_SHARDS", str(SHARDS))
    monkeypatch.setenv("OMNI_OUTBOUND_SHARDS", str(SHARDS))
    monkeypatch.setenv("OMNI_RETRY_DELAYS_MS", ",".join(map(str, settings.retry_delays_ms)))
    monkeypatch.setenv("OMNI_DELIVERY_LIMIT", str(settings.delivery_limit))
    prefix = broker.prefix + "cli-"
    runner = CliRunner()
    try:
        result = runner.invoke(
            app, ["broker", "setup", "--user-prefix", prefix, "--service", "tenant-router"]
        )
        assert result.exit_code == 1
        assert "OMNI_BROKER_PASSWORD_TENANT_ROUTER" in result.output
        monkeypatch.setenv("OMNI_BROKER_PASSWORD_TENANT_ROUTER", "cli-router-password")
        result = runner.invoke(
            app, ["broker", "setup", "--user-prefix", prefix, "--service", "tenant-router"]
        )
        assert result.exit_code == 0, result.output
        assert f"User {prefix}tenant-router (tenant-router)" in result.output
        assert "cli-router-password" not in result.output
        url = broker.urls["tenant-router"].replace(
            f"{user_name('tenant-router', broker.prefix)}:{broker.passwords['tenant-router']}",
            f"{prefix}tenant-router:cli-router-password",
        )
        assert attempt(url, consume("ingress.raw")) == "ok"
    finally:
        structlog.configure(**saved)
        with httpx.Client(base_url=services.mgmt_url, auth=services.mgmt_auth, timeout=10) as api:
            api.delete(f"/api/users/{quote(prefix + 'tenant-router', safe='')}")


def test_the_inbox_starts_on_its_own_user_and_hears_live_events(settings: Settings, broker: Broker) -> None:
    """open_deps as production runs it: declares nothing but its own live queue, on the inbox's user."""
    from inbox_support import CHEAP_HASHER

    from inbox_api.main import open_deps

    own = settings.model_copy(
        update={"rabbitmq_url": broker.urls["inbox-api"], "broker_declare_topology": False}
    )
    tenant = uuid.uuid4()

    async def main() -> str:
        async with open_deps(own, hasher=CHEAP_HASHER) as deps:
            queue = deps.hub.subscribe(tenant)
            event = NotificationEvent(tenant_id=tenant, kind="notification", occurred_at=datetime.now(UTC))
            await deps.hub.announce(event)
            live = await asyncio.wait_for(queue.get(), 10)
            assert live is not None
            return live.kind

    assert asyncio.run(main()) == "notification"
