"""Signed Meta webhooks through the real ingress, router and normalizer into tenant databases."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from pipeline import Pipeline, body_of, provision, running_pipeline, sign, unique_digits, wait_until
from pipeline import connect as connect_tenant_account
from prometheus_client import REGISTRY
from testenv import APP_SECRET, VERIFY_TOKEN

from omni_common.broker.connection import connect
from omni_common.broker.dlq import list_dead_letters, replay
from omni_common.broker.publisher import Publisher
from omni_common.channels.inbound import InboundMessage, Reaction, normalize, split_delivery
from omni_common.settings import Settings

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures" / "meta"
# The account ids the fixtures use belong to tenant "alpha".
ALPHA_IDS = {"whatsapp": "106540352242922", "facebook": "108201234567890", "instagram": "17841405822304914"}
BETA_IDS = {"whatsapp": "106540352242933", "facebook": "108209999999999", "instagram": "17907898765432109"}


@dataclass
class Tenants:
    alpha_id: uuid.UUID
    alpha_db: str
    beta_id: uuid.UUID
    beta_db: str


async def _setup(settings: Settings) -> Tenants:
    alpha = await provision(settings, "alpha", ALPHA_IDS)
    beta = await provision(settings, "beta", BETA_IDS)
    return Tenants(alpha.id, alpha.db_name, beta.id, beta.db_name)


@pytest.fixture(scope="module")
def tenants(settings: Settings) -> Tenants:
    return asyncio.run(_setup(settings))


@pytest.fixture(scope="module")
def pipe(settings: Settings, tenants: Tenants) -> Iterator[Pipeline]:
    with running_pipeline(settings) as p:
        yield p


@pytest.fixture(scope="module")
def http(pipe: Pipeline) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pipe.ingress_url, timeout=10) as client:
        yield client


def post(
    http: httpx.Client, channel: str, payload: dict[str, Any] | bytes, *, secret: str = APP_SECRET
) -> httpx.Response:
    body = body_of(payload)
    return http.post(
        f"/webhooks/{channel}",
        content=body,
        headers={"X-Hub-Signature-256": sign(body, secret), "Content-Type": "application/json"},
    )


def dead_letters(settings: Settings, pipe: Pipeline, *, reason: str | None = None) -> list[Any]:
    async def go() -> list[Any]:
        conn = await connect(settings.rabbitmq_url, name="test-dlq")
        try:
            return await list_dead_letters(conn, pipe.topology, reason=reason)
        finally:
            await conn.close()

    return asyncio.run(go())


def _message_fixtures() -> list[tuple[str, Path]]:
    cases = []
    for channel in ("whatsapp", "facebook", "instagram"):
        for path in sorted((FIXTURES / channel).glob("*.json")):
            if path.stem == "batch":
                continue
            items = split_delivery(channel, path.read_bytes()).items
            events = [e for item in items for e in normalize(channel, item.account_id, item.payload)]
            if any(isinstance(e, InboundMessage) for e in events):
                cases.append((channel, path))
    return cases


@pytest.mark.parametrize(("channel", "path"), _message_fixtures(), ids=lambda v: getattr(v, "stem", v))
def test_each_message_kind_lands_once_in_its_tenant_only(
    pipe: Pipeline, http: httpx.Client, tenants: Tenants, channel: str, path: Path
) -> None:
    raw = path.read_bytes()
    expected = [
        e
        for item in split_delivery(channel, raw).items
        for e in normalize(channel, item.account_id, item.payload)
        if isinstance(e, InboundMessage)
    ]
    assert post(http, channel, raw).status_code == 200
    for event in expected:
        rows = wait_until(
            lambda e=event: pipe.messages(
                tenants.alpha_db,
                "channel = %s AND external_message_id = %s",
                (channel, e.external_message_id),
            ),
            what=f"{channel} {event.kind} in alpha",
        )
        assert len(rows) == 1
        row = rows[0]
        assert row["kind"] == event.kind
        assert row["direction"] == event.direction
        assert row["text"] == event.text
        assert row["tenant_id"] == tenants.alpha_id
        assert row["raw_payload"] is not None
        assert row["platform_timestamp"] == event.platform_timestamp
        if not event.is_echo:
            assert row["sender_handle"] == event.contact_handle
        if event.media is not None:
            assert row["media"]["kind"] == event.media.kind
        assert not pipe.messages(tenants.beta_db, "external_message_id = %s", (event.external_message_id,))


def test_batch_is_split_per_tenant_and_unknown_account_is_dead_lettered(
    settings: Settings, pipe: Pipeline, http: httpx.Client, tenants: Tenants
) -> None:
    unknown = unique_digits()
    delivery = json.loads((FIXTURES / "whatsapp" / "batch.json").read_bytes())
    extra = copy.deepcopy(delivery["entry"][0]["changes"][0])
    extra["value"]["metadata"]["phone_number_id"] = unknown
    extra["value"]["messages"][0]["id"] = f"wamid.unknown-{unknown}"
    delivery["entry"][0]["changes"].append(extra)
    ids = [c["value"]["messages"][0]["id"] for c in delivery["entry"][0]["changes"]]
    assert post(http, "whatsapp", delivery).status_code == 200

    wait_until(
        lambda: pipe.messages(tenants.alpha_db, "external_message_id = %s", (ids[0],)), what="alpha row"
    )
    wait_until(lambda: pipe.messages(tenants.beta_db, "external_message_id = %s", (ids[1],)), what="beta row")
    assert not pipe.messages(tenants.alpha_db, "external_message_id = %s", (ids[1],))
    assert not pipe.messages(tenants.beta_db, "external_message_id = %s", (ids[0],))
    letters = wait_until(
        lambda: [
            d for d in dead_letters(settings, pipe, reason="unmapped_account") if unknown in str(d.to_dict())
        ],
        what="unmapped_account dead letter",
    )
    assert len(letters) == 1
    for db in (tenants.alpha_db, tenants.beta_db):
        assert not pipe.messages(db, "external_message_id = %s", (ids[2],))


def test_forged_missing_signature_and_oversized_body_are_refused_and_nothing_kept(
    settings: Settings, pipe: Pipeline, http: httpx.Client, tenants: Tenants, mgmt: httpx.Client
) -> None:
    mid = f"wamid.forged-{unique_digits()}"
    delivery = json.loads((FIXTURES / "whatsapp" / "text.json").read_bytes())
    delivery["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = mid
    body = body_of(delivery)
    assert post(http, "whatsapp", body, secret="not-the-secret").status_code == 401
    assert http.post("/webhooks/whatsapp", content=body).status_code == 401
    tampered = body.replace(b"Hello", b"Hellp") if b"Hello" in body else body + b" "
    assert (
        http.post(
            "/webhooks/whatsapp", content=tampered, headers={"X-Hub-Signature-256": sign(body, APP_SECRET)}
        ).status_code
        == 401
    )
    big = b"{" + b" " * settings.max_body_bytes + b"}"
    assert post(http, "whatsapp", big).status_code == 413
    # A valid delivery posted after them arrives; the refused ones never do.
    marker = f"wamid.after-{unique_digits()}"
    delivery["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = marker
    assert post(http, "whatsapp", delivery).status_code == 200
    wait_until(lambda: pipe.messages(tenants.alpha_db, "external_message_id = %s", (marker,)), what="marker")
    assert not pipe.messages(tenants.alpha_db, "external_message_id = %s", (mid,))
    metrics = httpx.get(f"{pipe.ingress_health_url}/metrics").text
    assert 'omni_webhooks_total{channel="whatsapp",outcome="signature_invalid"}' in metrics


def test_validly_signed_garbage_is_kept_and_dead_lettered_as_malformed(
    settings: Settings, pipe: Pipeline, http: httpx.Client
) -> None:
    garbage = f"not json at all {uuid.uuid4()}".encode()
    assert post(http, "instagram", garbage).status_code == 200
    letters = wait_until(
        lambda: [
            d for d in dead_letters(settings, pipe, reason="malformed") if "not_json" in (d.detail or "")
        ],
        what="malformed dead letter",
    )
    assert letters[0].source_queue == pipe.topology.queue_name("ingress.raw")
    counted = REGISTRY.get_sample_value(
        "omni_dead_lettered_total", {"queue": pipe.topology.queue_name("ingress.raw"), "reason": "malformed"}
    )
    assert (counted or 0) >= 1


def test_same_delivery_five_times_some_concurrently_yields_one_message(
    pipe: Pipeline, http: httpx.Client, tenants: Tenants
) -> None:
    mid = f"m_dup-{unique_digits()}"
    delivery = json.loads((FIXTURES / "facebook" / "text.json").read_bytes())
    delivery["entry"][0]["messaging"][0]["message"]["mid"] = mid
    assert post(http, "facebook", delivery).status_code == 200
    with ThreadPoolExecutor(3) as pool:
        codes = list(pool.map(lambda _i: post(http, "facebook", delivery).status_code, range(3)))
    assert codes == [200, 200, 200]
    wait_until(lambda: pipe.messages(tenants.alpha_db, "external_message_id = %s", (mid,)), what="dup row")
    assert post(http, "facebook", delivery).status_code == 200
    created = {"channel": "facebook", "kind": "message.created"}
    assert (REGISTRY.get_sample_value("omni_normalizer_writes_total", created) or 0) >= 1
    # A later, distinct message of the same conversation proves the duplicates were all processed.
    after = f"m_after-{unique_digits()}"
    delivery["entry"][0]["messaging"][0]["message"]["mid"] = after
    assert post(http, "facebook", delivery).status_code == 200
    wait_until(
        lambda: pipe.messages(tenants.alpha_db, "external_message_id = %s", (after,)), what="after row"
    )
    wait_until(lambda: _queues_drained(pipe), what="queues drained")
    assert len(pipe.messages(tenants.alpha_db, "external_message_id = %s", (mid,))) == 1


def _queues_drained(pipe: Pipeline) -> bool:
    async def go() -> bool:
        conn = await connect(pipe.settings.rabbitmq_url, name="test-depth")
        try:
            channel = await conn.channel()
            for stage in pipe.topology.stages[:2]:
                queue = await channel.declare_queue(stage.queue, passive=True)
                if queue.declaration_result.message_count:
                    return False
            return True
        finally:
            await conn.close()

    return asyncio.run(go())


def test_statuses_out_of_order_end_at_the_highest(
    pipe: Pipeline, http: httpx.Client, tenants: Tenants
) -> None:
    wamid = f"wamid.out-{unique_digits()}"
    rows = pipe.query(
        tenants.alpha_db,
        "SELECT c.id FROM chats c JOIN social_accounts a ON a.id = c.social_account_id "
        "WHERE a.platform = 'whatsapp' LIMIT 1",
    )
    chat_id = rows[0]["id"]
    pipe.query(
        tenants.alpha_db,
        "INSERT INTO chat_messages "
        "(tenant_id, chat_id, channel, external_message_id, direction, kind, text, status) "
        "VALUES (%s, %s, 'whatsapp', %s, 'outbound', 'text', 'see you at 8', 'sent') RETURNING id",
        (tenants.alpha_id, chat_id, wamid),
    )
    template = json.loads((FIXTURES / "whatsapp" / "status_read.json").read_bytes())
    for status in ("read", "delivered", "sent"):
        delivery = copy.deepcopy(template)
        item = delivery["entry"][0]["changes"][0]["value"]["statuses"][0]
        item.update({"id": wamid, "status": status})
        assert post(http, "whatsapp", delivery).status_code == 200
    wait_until(
        lambda: pipe.messages(tenants.alpha_db, "external_message_id = %s AND status = 'read'", (wamid,)),
        what="status read",
    )
    wait_until(lambda: _queues_drained(pipe), what="queues drained")
    assert pipe.messages(tenants.alpha_db, "external_message_id = %s", (wamid,))[0]["status"] == "read"


def test_disabled_channel_events_are_dead_lettered(
    settings: Settings, pipe: Pipeline, http: httpx.Client, tenants: Tenants
) -> None:
    account = unique_digits()
    asyncio.run(connect_tenant_account(settings, tenants.beta_id, "instagram", account, enabled=False))
    mid = f"ig-disabled-{account}"
    delivery = json.loads((FIXTURES / "instagram" / "text.json").read_bytes())
    delivery["entry"][0]["id"] = account
    delivery["entry"][0]["messaging"][0]["recipient"]["id"] = account
    delivery["entry"][0]["messaging"][0]["message"]["mid"] = mid
    assert post(http, "instagram", delivery).status_code == 200
    wait_until(
        lambda: [
            d for d in dead_letters(settings, pipe, reason="channel_disabled") if account in str(d.to_dict())
        ],
        what="channel_disabled dead letter",
    )
    assert not pipe.messages(tenants.beta_db, "external_message_id = %s", (mid,))


def test_unmapped_account_is_replayed_once_the_account_is_connected(
    settings: Settings, pipe: Pipeline, http: httpx.Client, tenants: Tenants
) -> None:
    account = unique_digits()
    mid = f"m_unmapped-{account}"
    delivery = json.loads((FIXTURES / "facebook" / "text.json").read_bytes())
    delivery["entry"][0]["id"] = account
    delivery["entry"][0]["messaging"][0]["recipient"]["id"] = account
    delivery["entry"][0]["messaging"][0]["message"]["mid"] = mid
    assert post(http, "facebook", delivery).status_code == 200
    letters = wait_until(
        lambda: [
            d for d in dead_letters(settings, pipe, reason="unmapped_account") if account in str(d.to_dict())
        ],
        what="unmapped dead letter",
    )
    assert not pipe.messages(tenants.beta_db, "external_message_id = %s", (mid,))

    asyncio.run(connect_tenant_account(settings, tenants.beta_id, "facebook", account))

    async def do_replay() -> int:
        conn = await connect(settings.rabbitmq_url, name="test-replay")
        try:
            publisher = Publisher(conn)
            await publisher.start()
            report = await replay(conn, pipe.topology, publisher, ids=[letters[0].id])
            await publisher.close()
            return len(report.replayed)
        finally:
            await conn.close()

    assert asyncio.run(do_replay()) == 1
    rows = wait_until(
        lambda: pipe.messages(tenants.beta_db, "external_message_id = %s", (mid,)), what="replayed row"
    )
    assert len(rows) == 1
    assert not [d for d in dead_letters(settings, pipe) if d.id == letters[0].id]


def test_verification_handshake(pipe: Pipeline, http: httpx.Client) -> None:
    ok = http.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
    )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    refused = {"channel": "facebook", "outcome": "verification_refused"}
    before = REGISTRY.get_sample_value("omni_webhooks_total", refused) or 0
    bad = http.get(
        "/webhooks/facebook",
        params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "x"},
    )
    assert bad.status_code == 403
    assert REGISTRY.get_sample_value("omni_webhooks_total", refused) == before + 1
    assert (
        'omni_webhooks_total{channel="facebook",outcome="verification_refused"}'
        in httpx.get(f"{pipe.ingress_health_url}/metrics").text
    )
    assert http.get("/webhooks/telegram").status_code == 404


def test_the_public_port_serves_only_the_webhook_routes(pipe: Pipeline, http: httpx.Client) -> None:
    # Metrics and probes live on OMNI_HEALTH_PORT (inside the cluster), never where Meta posts.
    for path in ("/metrics", "/healthz", "/readyz", "/openapi.json", "/docs"):
        assert http.get(path).status_code == 404, path
    health = httpx.Client(base_url=pipe.ingress_health_url, timeout=10)
    with health:
        assert health.get("/healthz").status_code == 200
        assert health.get("/readyz").status_code == 200
        assert "omni_webhooks_total" in health.get("/metrics").text
        assert health.post("/webhooks/whatsapp", content=b"{}").status_code in (404, 405)


def test_reaction_attaches_to_the_message_it_reacts_to(
    pipe: Pipeline, http: httpx.Client, tenants: Tenants
) -> None:
    raw = (FIXTURES / "whatsapp" / "reaction.json").read_bytes()
    item = split_delivery("whatsapp", raw).items[0]
    reaction = next(
        e for e in normalize("whatsapp", item.account_id, item.payload) if isinstance(e, Reaction)
    )
    target = json.loads((FIXTURES / "whatsapp" / "text.json").read_bytes())
    target["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = reaction.target_external_id
    assert post(http, "whatsapp", target).status_code == 200
    wait_until(
        lambda: pipe.messages(tenants.alpha_db, "external_message_id = %s", (reaction.target_external_id,)),
        what="target",
    )
    assert post(http, "whatsapp", raw).status_code == 200
    rows = wait_until(
        lambda: pipe.messages(
            tenants.alpha_db,
            "external_message_id = %s AND reaction_emoji IS NOT NULL",
            (reaction.target_external_id,),
        ),
        what="reaction on target",
    )
    assert rows[0]["reaction_emoji"] == reaction.emoji
    assert datetime.now(UTC) > rows[0]["created_at"]


def _wa_text(mid: str, text: str, *, context_id: str | None = None) -> dict[str, Any]:
    delivery = json.loads((FIXTURES / "whatsapp" / "text.json").read_bytes())
    message = delivery["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update({"id": mid, "text": {"body": text}})
    if context_id:
        message["context"] = {"from": "15550783881", "id": context_id}
    return delivery


def test_a_reply_links_to_the_message_it_quotes(pipe: Pipeline, http: httpx.Client, tenants: Tenants) -> None:
    quoted, reply = f"wamid.q-{unique_digits()}", f"wamid.r-{unique_digits()}"
    assert post(http, "whatsapp", _wa_text(quoted, "Table at 7?")).status_code == 200
    original = wait_until(
        lambda: pipe.messages(tenants.alpha_db, "external_message_id = %s", (quoted,)), what="q"
    )
    assert post(http, "whatsapp", _wa_text(reply, "Or 8?", context_id=quoted)).status_code == 200
    row = wait_until(lambda: pipe.messages(tenants.alpha_db, "external_message_id = %s", (reply,)), what="r")[
        0
    ]
    assert row["reply_to_message_id"] == original[0]["id"]
    assert row["reply_to_external_id"] == quoted


def test_an_unsent_message_is_marked_deleted_and_its_text_kept(
    pipe: Pipeline, http: httpx.Client, tenants: Tenants
) -> None:
    mid = f"ig-unsend-{unique_digits()}"
    original = json.loads((FIXTURES / "instagram" / "text.json").read_bytes())
    original["entry"][0]["messaging"][0]["message"]["mid"] = mid
    deleted = json.loads((FIXTURES / "instagram" / "deleted.json").read_bytes())
    deleted["entry"][0]["messaging"][0]["message"]["mid"] = mid
    assert post(http, "instagram", original).status_code == 200
    wait_until(lambda: pipe.messages(tenants.alpha_db, "external_message_id = %s", (mid,)), what="original")
    assert post(http, "instagram", deleted).status_code == 200
    row = wait_until(
        lambda: pipe.messages(
            tenants.alpha_db, "external_message_id = %s AND deleted_at IS NOT NULL", (mid,)
        ),
        what="deleted mark",
    )[0]
    assert row["text"] == original["entry"][0]["messaging"][0]["message"]["text"]


def test_instagram_story_mention_media_is_linked_not_stored(
    pipe: Pipeline, http: httpx.Client, tenants: Tenants
) -> None:
    delivery = json.loads((FIXTURES / "instagram" / "story_mention.json").read_bytes())
    mid = f"ig-story-{unique_digits()}"
    delivery["entry"][0]["messaging"][0]["message"]["mid"] = mid
    assert post(http, "instagram", delivery).status_code == 200
    row = wait_until(
        lambda: pipe.messages(tenants.alpha_db, "external_message_id = %s", (mid,)), what="story"
    )[0]
    assert row["kind"] == "story_mention"
    assert row["media"]["state"] == "linked"
    assert row["media"]["url"].startswith("https://lookaside.fbsbx.com/")


def test_messenger_watermarks_move_outbound_messages_forward(
    pipe: Pipeline, http: httpx.Client, tenants: Tenants
) -> None:
    psid = f"psid-{unique_digits()}"
    first = json.loads((FIXTURES / "facebook" / "text.json").read_bytes())
    item = first["entry"][0]["messaging"][0]
    item["sender"]["id"] = psid
    item["message"]["mid"] = f"m_in-{psid}"
    assert post(http, "facebook", first).status_code == 200
    wait_until(
        lambda: pipe.messages(tenants.alpha_db, "external_message_id = %s", (f"m_in-{psid}",)), what="in"
    )
    chat = pipe.query(
        tenants.alpha_db,
        "SELECT ch.id FROM chats ch JOIN contacts c ON c.id = ch.contact_id WHERE c.external_id = %s",
        (psid,),
    )[0]["id"]
    sent_at = datetime.fromtimestamp(1_749_416_380, UTC)
    out = f"m_out-{psid}"
    pipe.query(
        tenants.alpha_db,
        "INSERT INTO chat_messages (tenant_id, chat_id, channel, external_message_id, direction, kind, text, "
        "status, platform_timestamp) VALUES (%s, %s, 'facebook', %s, 'outbound', 'text', 'ok!', 'sent', %s) "
        "RETURNING id",
        (tenants.alpha_id, chat, out, sent_at),
    )
    for name in ("read", "delivery"):  # read arrives first: delivered must not undo it
        delivery = json.loads((FIXTURES / "facebook" / f"{name}.json").read_bytes())
        delivery["entry"][0]["messaging"][0]["sender"]["id"] = psid
        delivery["entry"][0]["messaging"][0].get("delivery", {}).pop("mids", None)
        assert post(http, "facebook", delivery).status_code == 200
    wait_until(
        lambda: pipe.messages(tenants.alpha_db, "external_message_id = %s AND status = 'read'", (out,)),
        what="read",
    )
    wait_until(lambda: _queues_drained(pipe), what="queues drained")
    assert pipe.messages(tenants.alpha_db, "external_message_id = %s", (out,))[0]["status"] == "read"


def test_an_account_needing_reauth_still_stores_inbound_messages(
    settings: Settings, pipe: Pipeline, http: httpx.Client, tenants: Tenants
) -> None:
    pipe.query(
        tenants.alpha_db,
        "UPDATE social_accounts SET status = 'needs_reauth' WHERE platform = 'whatsapp' RETURNING id",
    )
    try:
        mid = f"wamid.reauth-{unique_digits()}"
        assert post(http, "whatsapp", _wa_text(mid, "still there?")).status_code == 200
        wait_until(lambda: pipe.messages(tenants.alpha_db, "external_message_id = %s", (mid,)), what="stored")
    finally:
        pipe.query(
            tenants.alpha_db,
            "UPDATE social_accounts SET status = 'active' WHERE platform = 'whatsapp' RETURNING id",
        )


def test_new_messages_are_announced_to_live_inboxes_of_their_tenant(
    settings: Settings, pipe: Pipeline, http: httpx.Client, tenants: Tenants
) -> None:
    from omni_common.contracts import NotificationEvent, notifications_in

    mid = f"wamid.live-{unique_digits()}"

    async def listen_and_post() -> NotificationEvent:
        conn = await connect(settings.rabbitmq_url, name="test-live")
        try:
            channel = await conn.channel()
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(pipe.topology.notifications_exchange)
            response = await asyncio.to_thread(post, http, "whatsapp", _wa_text(mid, "live!"))
            assert response.status_code == 200
            async with asyncio.timeout(15), queue.iterator() as messages:
                async for message in messages:
                    await message.ack()
                    # A plain event or one tenant's batch of them (``NotificationBatch``).
                    for _, note in notifications_in(message.body, message.message_id):
                        if note.kind == "message.created" and note.message_id is not None:
                            rows = pipe.messages(tenants.alpha_db, "id = %s", (note.message_id,))
                            if rows and rows[0]["external_message_id"] == mid:
                                return note
            raise AssertionError("no notification")
        finally:
            await conn.close()

    note = asyncio.run(listen_and_post())
    assert note.tenant_id == tenants.alpha_id
    assert note.chat_id is not None


def test_disabling_an_account_takes_effect_at_once_despite_the_routing_cache(
    settings: Settings, pipe: Pipeline, http: httpx.Client, tenants: Tenants
) -> None:
    account = unique_digits()
    asyncio.run(connect_tenant_account(settings, tenants.beta_id, "facebook", account))

    def delivery(mid: str) -> dict[str, Any]:
        d = json.loads((FIXTURES / "facebook" / "text.json").read_bytes())
        d["entry"][0]["id"] = account
        d["entry"][0]["messaging"][0]["recipient"]["id"] = account
        d["entry"][0]["messaging"][0]["message"]["mid"] = mid
        return d

    first, second = f"m_cached-{account}", f"m_after-disable-{account}"
    assert post(http, "facebook", delivery(first)).status_code == 200  # the router now caches the route
    wait_until(lambda: pipe.messages(tenants.beta_db, "external_message_id = %s", (first,)), what="first")
    asyncio.run(connect_tenant_account(settings, tenants.beta_id, "facebook", account, enabled=False))
    assert post(http, "facebook", delivery(second)).status_code == 200
    wait_until(
        lambda: [
            d for d in dead_letters(settings, pipe, reason="channel_disabled") if account in str(d.to_dict())
        ],
        what="channel_disabled after disabling",
    )
    assert not pipe.messages(tenants.beta_db, "external_message_id = %s", (second,))


@contextmanager
def captured_log_events() -> Iterator[list[dict[str, Any]]]:
    """Every structlog event of every thread, with its bound context (as the JSON lines carry it)."""
    saved = structlog.get_config()
    capture = structlog.testing.LogCapture()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, capture])
    try:
        yield capture.entries
    finally:
        structlog.configure(**saved)


def test_stored_messages_and_applied_statuses_are_logged_with_ids_and_correlation(
    pipe: Pipeline, http: httpx.Client, tenants: Tenants
) -> None:
    mid, sent = f"wamid.log-{unique_digits()}", f"wamid.logout-{unique_digits()}"
    status = json.loads((FIXTURES / "whatsapp" / "status_delivered.json").read_bytes())
    status["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = sent
    with captured_log_events() as events:

        def logged(name: str, **fields: Any) -> list[dict[str, Any]]:
            return [
                e
                for e in list(events)
                if e["event"] == name and all(e.get(k) == v for k, v in fields.items())
            ]

        assert post(http, "whatsapp", _wa_text(mid, "log me")).status_code == 200
        [row] = wait_until(
            lambda: pipe.messages(tenants.alpha_db, "external_message_id = %s", (mid,)), what="row"
        )
        [outbound] = pipe.query(
            tenants.alpha_db,
            "INSERT INTO chat_messages "
            "(tenant_id, chat_id, channel, external_message_id, direction, kind, text, status) "
            "VALUES (%s, %s, 'whatsapp', %s, 'outbound', 'text', 'see you', 'sent') RETURNING id",
            (tenants.alpha_id, row["chat_id"], sent),
        )
        assert post(http, "whatsapp", status).status_code == 200
        [stored] = wait_until(lambda: logged("event_stored", external_message_id=mid), what="event_stored")
        [applied] = wait_until(
            lambda: logged("status_applied", chat_message_id=str(outbound["id"])), what="status_applied"
        )
    assert stored["chat_message_id"] == str(row["id"])
    assert applied["status"] == "delivered"
    for entry in (stored, applied):
        # The consumer binds the delivery's correlation id (the ingress's delivery id), the handler
        # the tenant and channel: one grep follows a webhook to its row.
        assert entry["correlation_id"]
        assert entry["tenant_id"] == str(tenants.alpha_id)
        assert entry["channel"] == "whatsapp"
        assert entry["queue"] == pipe.topology.queue_name("normalizer.events")
    assert stored["correlation_id"] != applied["correlation_id"]  # two webhooks, two deliveries


def test_a_replay_repeated_after_a_crash_stores_the_message_once(
    settings: Settings, pipe: Pipeline, http: httpx.Client, tenants: Tenants
) -> None:
    """The same dead letter replayed twice (the first replay died after its publish, before its ack,
    so the letter was still there for the second): one row."""
    account = unique_digits()
    mid = f"m_replay2-{account}"
    delivery = json.loads((FIXTURES / "facebook" / "text.json").read_bytes())
    delivery["entry"][0]["id"] = account
    delivery["entry"][0]["messaging"][0]["recipient"]["id"] = account
    delivery["entry"][0]["messaging"][0]["message"]["mid"] = mid
    assert post(http, "facebook", delivery).status_code == 200
    [letter] = wait_until(
        lambda: [
            d for d in dead_letters(settings, pipe, reason="unmapped_account") if account in str(d.to_dict())
        ],
        what="unmapped dead letter",
    )
    asyncio.run(connect_tenant_account(settings, tenants.beta_id, "facebook", account))

    class DiesAfterPublish:
        """A replay process killed between the confirmed publish and the DLQ ack."""

        def __init__(self, inner: Publisher) -> None:
            self.inner = inner

        async def publish_to_queue(self, *args: Any, **kwargs: Any) -> None:
            await self.inner.publish_to_queue(*args, **kwargs)
            raise RuntimeError("replay process died before its ack")

    async def replay_twice() -> int:
        conn = await connect(settings.rabbitmq_url, name="test-replay-twice")
        try:
            publisher = Publisher(conn)
            await publisher.start()
            with pytest.raises(RuntimeError, match="died before its ack"):
                await replay(conn, pipe.topology, DiesAfterPublish(publisher), ids=[letter.id])
            # Not acked, so still a dead letter: the operator replays it again.
            report = await replay(conn, pipe.topology, publisher, ids=[letter.id])
            await publisher.close()
            return len(report.replayed)
        finally:
            await conn.close()

    assert asyncio.run(replay_twice()) == 1
    wait_until(
        lambda: pipe.messages(tenants.beta_db, "external_message_id = %s", (mid,)), what="replayed row"
    )
    # A later message of the same conversation proves both copies went through before the count.
    after = f"m_replay2-after-{account}"
    delivery["entry"][0]["messaging"][0]["message"]["mid"] = after
    assert post(http, "facebook", delivery).status_code == 200
    wait_until(lambda: pipe.messages(tenants.beta_db, "external_message_id = %s", (after,)), what="after row")
    wait_until(lambda: _queues_drained(pipe), what="queues drained")
    assert len(pipe.messages(tenants.beta_db, "external_message_id = %s", (mid,))) == 1
    assert not [d for d in dead_letters(settings, pipe) if d.id == letter.id]
