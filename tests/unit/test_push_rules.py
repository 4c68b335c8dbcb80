"""Alerts' pure rules: which push endpoints the server will call, what an alert says."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest

from inbox_api.push.endpoints import endpoint_allowed
from inbox_api.push.sender import PREVIEW_CHARS, PushNotifier, alert_payload
from omni_common.contracts import NotificationEvent
from omni_common.settings import Settings
from omni_common.tenancy.push_keys import new_pair

DEFAULT_HOSTS = tuple(Settings(_env_file=None).push_endpoint_hosts)


@pytest.mark.parametrize(
    ("endpoint", "allowed"),
    [
        ("https://fcm.googleapis.com/fcm/send/abc", True),
        ("https://updates.push.services.mozilla.com/wpush/v2/x", True),
        ("https://wns2-par02p.notify.windows.com/w/?token=x", True),
        ("https://web.push.apple.com/QGx", True),
        ("http://fcm.googleapis.com/fcm/send/abc", False),  # plain http only on loopback
        ("https://evil.example/fcm.googleapis.com", False),
        ("https://fcm.googleapis.com.evil.example/x", False),
        ("https://user:pw@fcm.googleapis.com/x", False),
        ("https://10.0.0.1/push", False),
        ("file:///etc/passwd", False),
        ("not a url", False),
    ],
)
def test_only_browser_push_services_are_called(endpoint: str, allowed: bool) -> None:
    assert endpoint_allowed(endpoint, DEFAULT_HOSTS) is allowed


def test_loopback_over_http_only_when_listed() -> None:
    assert endpoint_allowed("http://127.0.0.1:9/push/x", ("127.0.0.1",))
    assert not endpoint_allowed("http://127.0.0.1:9/push/x", DEFAULT_HOSTS)


def test_an_alert_names_the_customer_and_previews_the_text_shortly() -> None:
    chat = uuid.uuid4()
    alert = orjson.loads(alert_payload(chat, "Ana", "text", "x" * 500))
    assert alert["title"] == "Ana"
    assert len(alert["body"]) == PREVIEW_CHARS
    assert alert["url"] == f"/inbox?c={chat}"
    assert orjson.loads(alert_payload(chat, None, "image", None))["body"] == "Photo"
    assert orjson.loads(alert_payload(chat, None, "sticker", ""))["title"] == "New message"


def test_a_vapid_pair_is_a_p256_point_and_scalar() -> None:
    pair = new_pair()
    assert len(pair.public_key) == 87  # 65 bytes, base64url without padding
    assert len(pair.private_key) == 43  # 32 bytes


def _event(event_kind: str, **data: object) -> NotificationEvent:
    return NotificationEvent(
        tenant_id=uuid.uuid4(),
        kind=event_kind,
        chat_id=uuid.uuid4(),
        message_id=uuid.uuid4(),
        data=dict(data),
        occurred_at=datetime.now(UTC),
    )


async def test_only_new_customer_messages_are_queued_for_alerts_and_a_full_queue_drops() -> None:
    notifier = PushNotifier(registry=None, keyring=None, subject="mailto:x@y.z", queue_size=2)
    notifier.offer(_event("message.created", direction="outbound", kind="text"))
    notifier.offer(_event("message.status", status="read"))
    notifier.offer(_event("message.created", direction="inbound", kind="reaction"))
    assert notifier._queue.qsize() == 0
    for _ in range(3):  # never blocks: the third is dropped
        notifier.offer(_event("message.created", direction="inbound", kind="text"))
    assert notifier._queue.qsize() == 2
