"""Webhooks sharing broker messages (OMNI_INGRESS_SHARE_MS) on the real broker, router and normalizer.

Each test runs on a vhost of its own: it deletes queues or runs an ingress with other settings, which
must not reach the session's other pipelines.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import aio_pika
import httpx
import orjson
import pytest
from aio_pika.exceptions import DeliveryError
from pipeline import provision, running_pipeline, sign, unique_digits, wait_until
from sandbox_server import serve
from testenv import APP_SECRET, VERIFY_TOKEN, Services, management_put

from ingress_webhooks.main import build_apps
from omni_common.channels import samples
from omni_common.contracts import RawWebhookBatch, decode
from omni_common.contracts.routing import RAW_WEBHOOKS
from omni_common.settings import Settings

pytestmark = pytest.mark.integration

WEBHOOKS = 60


@pytest.fixture
def own_vhost(services: Services) -> Iterator[str]:
    name = f"omnitest_shared_{secrets.token_hex(4)}"
    with httpx.Client(base_url=services.mgmt_url, auth=services.mgmt_auth, timeout=30) as api:
        management_put(api, f"/api/vhosts/{quote(name, safe='')}")
        management_put(
            api,
            f"/api/permissions/{quote(name, safe='')}/{services.mgmt_auth[0]}",
            {"configure": ".*", "write": ".*", "read": ".*"},
        )
        yield f"{services.amqp_base}/{quote(name, safe='')}"
        api.delete(f"/api/vhosts/{quote(name, safe='')}")


def _sharing(settings: Settings, amqp_url: str, *, window_ms: float, route: str = "asgi") -> Settings:
    return settings.model_copy(
        update={
            "rabbitmq_url": amqp_url,
            "ingress_share_ms": window_ms,
            "ingress_share_max_bodies": 16,
            "ingress_route": route,
        }
    )


def _text(phone_number_id: str, message_id: str) -> bytes:
    return orjson.dumps(
        samples.whatsapp_text(
            phone_number_id=phone_number_id,
            waba_id="300000000000001",
            wa_id="4915100000009",
            name="Ana",
            text=f"hello {message_id}",
            message_id=message_id,
            timestamp=1_760_000_000,
        )
    )


async def _post_all(url: str, bodies: list[bytes]) -> list[int]:
    """Every body at once, over as many connections: they arrive within the same few milliseconds."""
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    "/webhooks/whatsapp",
                    content=b,
                    headers={"X-Hub-Signature-256": sign(b, APP_SECRET), "Content-Type": "application/json"},
                )
                for b in bodies
            )
        )
    return [a.status_code for a in answers]


async def _raw_messages(amqp_url: str) -> list[RawWebhookBatch]:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(RAW_WEBHOOKS, passive=True)
        out = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            out.append(decode(RawWebhookBatch, message.body))
        return out
    finally:
        await connection.close()


def test_concurrent_webhooks_share_messages_and_each_is_stored_once(
    settings: Settings, own_vhost: str
) -> None:
    shared = _sharing(settings, own_vhost, window_ms=20)
    account = unique_digits()
    tenant = asyncio.run(provision(shared, f"shared{uuid.uuid4().hex[:8]}", {"whatsapp": account}))
    ids = [f"wamid.shared.{uuid.uuid4().hex}" for _ in range(WEBHOOKS)]
    with running_pipeline(shared) as pipe:
        codes = asyncio.run(_post_all(pipe.ingress_url, [_text(account, i) for i in ids]))
        assert codes == [200] * WEBHOOKS

        def stored() -> list[str] | None:
            rows = pipe.query(
                tenant.db_name,
                "SELECT external_message_id FROM chat_messages WHERE external_message_id = ANY(%s)",
                (ids,),
            )
            return [r["external_message_id"] for r in rows] if len(rows) >= WEBHOOKS else None

        found = wait_until(stored, timeout=60, what="every shared webhook stored")
    assert sorted(found) == sorted(ids)  # each once: none lost, none twice


def test_requests_arriving_together_share_messages_each_body_once(settings: Settings, own_vhost: str) -> None:
    shared = _sharing(settings, own_vhost, window_ms=20)
    bodies = [_text("100000000000001", f"wamid.s.{n}") for n in range(WEBHOOKS)]
    with serve(build_apps(shared).webhooks) as url:
        assert asyncio.run(_post_all(url, bodies)) == [200] * WEBHOOKS
    messages = asyncio.run(_raw_messages(own_vhost))
    delivered = [d for m in messages for d in m.deliveries]
    assert sorted(d.body for d in delivered) == sorted(bodies)  # every body once, byte for byte
    assert len({d.delivery_id for d in delivered}) == WEBHOOKS  # each its own delivery id
    assert len(messages) < WEBHOOKS  # and they did share
    assert all(len(m.deliveries) <= 16 for m in messages)


def _refuse(services: Services, amqp_url: str, how: str) -> None:
    """Make the broker refuse the next publishes to the raw queue: nothing bound (the mandatory publish
    comes back), or the queue at its length limit (it nacks: reject-publish overflow)."""
    vhost = amqp_url.rsplit("/", 1)[1]
    if how == "nacked":
        with httpx.Client(base_url=services.mgmt_url, auth=services.mgmt_auth, timeout=30) as api:
            management_put(
                api,
                f"/api/policies/{vhost}/full",
                {"pattern": f"^{RAW_WEBHOOKS}$", "definition": {"max-length": 0}, "apply-to": "queues"},
            )

    async def apply() -> None:
        connection = await aio_pika.connect(amqp_url)
        try:
            channel = await connection.channel(publisher_confirms=True)
            if how == "returned":
                await channel.queue_delete(RAW_WEBHOOKS)
                return
            # The queue applies a policy a moment later: probe until it nacks.
            for _ in range(100):
                try:
                    await channel.default_exchange.publish(
                        aio_pika.Message(b"probe"), routing_key=RAW_WEBHOOKS
                    )
                except DeliveryError:
                    return
                await asyncio.sleep(0.05)
            raise AssertionError("the length limit never applied")
        finally:
            await connection.close()

    asyncio.run(apply())


@pytest.mark.parametrize(
    ("route", "how"), [("asgi", "returned"), ("fastapi", "returned"), ("asgi", "nacked")]
)
def test_a_refused_shared_message_answers_503_to_every_request_in_it(
    settings: Settings, services: Services, own_vhost: str, route: str, how: str
) -> None:
    # One window long enough for all of them: a single message, which the broker refuses.
    shared = _sharing(settings, own_vhost, window_ms=50, route=route).model_copy(
        update={"ingress_share_max_bodies": 100}
    )
    bodies = [_text("100000000000002", f"wamid.r.{n}") for n in range(20)]
    with serve(build_apps(shared).webhooks) as url:
        _refuse(services, own_vhost, how)
        refused = asyncio.run(_post_all(url, bodies))
        again = asyncio.run(_post_all(url, bodies[:1]))
    assert refused == [503] * len(bodies)
    assert again == [503]  # the publisher is still usable: a later window is refused on its own


@pytest.mark.parametrize("route", ["asgi", "fastapi"])
def test_both_webhook_routes_give_the_same_answers(settings: Settings, own_vhost: str, route: str) -> None:
    ingress = _sharing(settings, own_vhost, window_ms=2, route=route).model_copy(
        update={"max_body_bytes": 1000}
    )
    body = _text("100000000000003", "wamid.same")

    def chunked(data: bytes) -> Iterator[bytes]:  # no Content-Length: the cap must stop the stream
        for i in range(0, len(data), 100):
            yield data[i : i + 100]

    signed = {"X-Hub-Signature-256": sign(body, APP_SECRET)}
    with serve(build_apps(ingress).webhooks) as url, httpx.Client(base_url=url, timeout=10) as http:
        ok = http.post("/webhooks/whatsapp", content=body, headers=signed)
        assert (ok.status_code, ok.text, ok.headers["content-type"]) == (
            200,
            "EVENT_RECEIVED",
            "text/plain; charset=utf-8",
        )
        assert http.post("/webhooks/whatsapp", content=chunked(body), headers=signed).status_code == 200
        big = b"{" + b" " * 2000 + b"}"
        assert http.post("/webhooks/whatsapp", content=chunked(big), headers=signed).status_code == 413
        assert http.post("/webhooks/whatsapp", content=big, headers=signed).status_code == 413
        assert http.post("/webhooks/whatsapp", content=body).status_code == 401
        assert http.post("/webhooks/whatsapp", content=body + b" ", headers=signed).status_code == 401
        assert http.post("/webhooks/telegram", content=body, headers=signed).status_code == 404
        assert http.get("/metrics").status_code == 404
        handshake = http.get(
            "/webhooks/whatsapp",
            params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"},
        )
        assert (handshake.status_code, handshake.text) == (200, "42")
    stored = asyncio.run(_raw_messages(own_vhost))
    assert [d.body for m in stored for d in m.deliveries] == [body, body]  # the refused ones never
