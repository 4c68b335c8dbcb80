"""Signed webhooks from the sandbox: statuses after sends, async failures, simulated inbound messages."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest
from sandbox_server import Captured, SandboxControl, WebhookReceiver, sandbox, serve

from meta_sandbox import SandboxConfig
from omni_common.graph import ErrorClass, GraphClient, GraphError

SECRET = "sandbox-test-secret"


@pytest.fixture(scope="module")
def sandbox_config(receiver: tuple[WebhookReceiver, str]) -> SandboxConfig:
    return SandboxConfig(ingress_url=receiver[1], app_secret=SECRET, status_delay_s=0.01)


def _verified(post: Captured) -> dict:
    """Check the signature the way the ingress must (HMAC of the raw bytes), then parse."""
    expected = "sha256=" + hmac.new(SECRET.encode(), post.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(post.headers["x-hub-signature-256"], expected)
    assert post.headers["content-type"] == "application/json"
    return json.loads(post.body)


async def test_whatsapp_send_is_followed_by_signed_sent_delivered_read(
    receiver: tuple[WebhookReceiver, str], ctl: SandboxControl, graph: GraphClient
) -> None:
    account_id, token = await ctl.add_account("whatsapp", waba_id="WABA-1")
    result = await graph.send_message("whatsapp", account_id, token, to="+16505551234", text="hi")
    posts = await receiver[0].await_count(3, contains=result.external_message_id)
    assert {p.path for p in posts} == {"/webhooks/whatsapp"}
    docs = [_verified(p) for p in posts]
    assert docs[0]["object"] == "whatsapp_business_account"
    entry = docs[0]["entry"][0]
    assert entry["id"] == "WABA-1"
    change = entry["changes"][0]
    assert change["field"] == "messages"
    assert change["value"]["metadata"]["phone_number_id"] == account_id
    statuses = [d["entry"][0]["changes"][0]["value"]["statuses"][0] for d in docs]
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    for status in statuses:
        assert status["id"] == result.external_message_id
        assert status["recipient_id"] == "16505551234"
        assert isinstance(status["timestamp"], str)
        assert status["timestamp"].isdigit()


async def test_messenger_send_is_followed_by_delivery_then_read(
    receiver: tuple[WebhookReceiver, str], ctl: SandboxControl, graph: GraphClient
) -> None:
    page_id, token = await ctl.add_account("facebook")
    result = await graph.send_message("facebook", page_id, token, to=f"PSID-{page_id}", text="hi")
    posts = await receiver[0].await_count(2, contains=f"PSID-{page_id}")
    docs = [_verified(p) for p in posts]
    assert {d["object"] for d in docs} == {"page"}
    events = [d["entry"][0]["messaging"][0] for d in docs]
    assert events[0]["delivery"]["mids"] == [result.external_message_id]
    assert events[1]["read"]["watermark"] >= events[0]["delivery"]["watermark"]
    assert events[0]["recipient"]["id"] == page_id


async def test_instagram_send_is_followed_by_seen(
    receiver: tuple[WebhookReceiver, str], ctl: SandboxControl, graph: GraphClient
) -> None:
    ig_id, token = await ctl.add_account("instagram")
    result = await graph.send_message("instagram", ig_id, token, to="IGSID-9", text="hi")
    [post] = await receiver[0].await_count(1, contains=result.external_message_id)
    doc = _verified(post)
    assert post.path == "/webhooks/instagram"
    assert doc["object"] == "instagram"
    assert doc["entry"][0]["id"] == ig_id
    assert doc["entry"][0]["messaging"][0]["read"] == {"mid": result.external_message_id}


async def test_window_failure_is_accepted_then_reported_as_failed_status(
    receiver: tuple[WebhookReceiver, str], ctl: SandboxControl, graph: GraphClient
) -> None:
    account_id, token = await ctl.add_account("whatsapp")
    await ctl.add_fault(131047, mode="accept_then_fail_async", match={"account_id": account_id})
    result = await graph.send_message("whatsapp", account_id, token, to="15550009", text="late reply")
    [post] = await receiver[0].await_count(1, contains=result.external_message_id)
    status = _verified(post)["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert status["status"] == "failed"
    assert status["errors"][0]["code"] == 131047


@pytest.mark.parametrize(
    ("channel", "sender"), [("whatsapp", "34600111222"), ("facebook", "PSID-in"), ("instagram", "IGSID-in")]
)
async def test_simulated_inbound_text_arrives_signed_in_documented_shape(
    receiver: tuple[WebhookReceiver, str], ctl: SandboxControl, channel: str, sender: str
) -> None:
    account_id, _ = await ctl.add_account(channel)
    answer = await ctl.post(
        "/simulate/inbound",
        {"channel": channel, "account_id": account_id, "from": sender, "text": "¿Mesa? äöå", "name": "Ana"},
    )
    assert answer["status_code"] == 200
    [post] = await receiver[0].await_count(1, contains=answer["message_id"])
    assert b"\\u00e4\\u00f6\\u00e5" in post.body  # escaped non-ASCII, as Meta signs it
    doc = _verified(post)
    if channel == "whatsapp":
        value = doc["entry"][0]["changes"][0]["value"]
        assert value["contacts"] == [{"profile": {"name": "Ana"}, "wa_id": sender}]
        message = value["messages"][0]
        assert (message["from"], message["type"], message["text"]["body"]) == (sender, "text", "¿Mesa? äöå")
    else:
        event = doc["entry"][0]["messaging"][0]
        assert (event["sender"]["id"], event["recipient"]["id"]) == (sender, account_id)
        assert event["message"] == {"mid": answer["message_id"], "text": "¿Mesa? äöå"}


async def test_statuses_can_arrive_out_of_order_and_duplicated(http: httpx.AsyncClient) -> None:
    receiver = WebhookReceiver()
    with serve(receiver.app()) as ingress:
        config = SandboxConfig(
            ingress_url=ingress,
            app_secret=SECRET,
            status_delay_s=0.0,
            status_order="reversed",
            duplicate_statuses=True,
        )
        with sandbox(config) as root:
            ctl = SandboxControl(http, root)
            account_id, token = await ctl.add_account("whatsapp")
            result = await GraphClient(http, ctl.graph_url).send_message(
                "whatsapp", account_id, token, to="1", text="x"
            )
            posts = await receiver.await_count(6, contains=result.external_message_id)
    statuses = [_verified(p)["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] for p in posts]
    assert statuses == ["read", "read", "delivered", "delivered", "sent", "sent"]


async def test_enforced_window_fails_like_meta_per_channel(http: httpx.AsyncClient) -> None:
    receiver = WebhookReceiver()
    with serve(receiver.app()) as ingress:
        config = SandboxConfig(ingress_url=ingress, app_secret=SECRET, status_delay_s=0.0, window_hours=24)
        with sandbox(config) as root:
            ctl = SandboxControl(http, root)
            graph = GraphClient(http, ctl.graph_url)
            wa_id, wa_token = await ctl.add_account("whatsapp")
            page_id, page_token = await ctl.add_account("facebook")
            ig_id, ig_token = await ctl.add_account("instagram")
            # WhatsApp accepts, then reports the closed window asynchronously.
            late = await graph.send_message("whatsapp", wa_id, wa_token, to="15550001", text="late")
            [post] = await receiver.await_count(1, contains=late.external_message_id)
            status = _verified(post)["entry"][0]["changes"][0]["value"]["statuses"][0]
            assert (status["status"], status["errors"][0]["code"]) == ("failed", 131047)
            # Messenger and Instagram refuse synchronously.
            for channel, account_id, token, subcode in (
                ("facebook", page_id, page_token, 2018278),
                ("instagram", ig_id, ig_token, 2534022),
            ):
                with pytest.raises(GraphError) as info:
                    await graph.send_message(channel, account_id, token, to="U1", text="late")
                assert (info.value.code, info.value.subcode) == (10, subcode)
                assert info.value.error_class is ErrorClass.OUTSIDE_WINDOW
            # A customer message opens the window again.
            await ctl.post(
                "/simulate/inbound",
                {"channel": "facebook", "account_id": page_id, "from": "U1", "text": "hi"},
            )
            await graph.send_message("facebook", page_id, page_token, to="U1", text="in time")
