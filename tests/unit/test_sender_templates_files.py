"""The send handler with templates, files and the human-agent tag, on fakes of our own interfaces."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fakes import FakeGraph, FakeNotifications, FakePacer, FakeSendStore

from omni_common.broker.outcomes import Retry
from omni_common.contracts import SendReply
from omni_common.crypto import KeyRing, binding
from omni_common.graph import ErrorClass, GraphError
from omni_common.media.storage import StoredMedia
from omni_common.tenancy.accounts import CREDENTIALS_FIELD
from outbound_sender.deps import SenderDeps
from outbound_sender.handler import handle_send
from outbound_sender.store import SendJob

TENANT = uuid.uuid4()
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KEYRING = KeyRing.from_strings([base64.urlsafe_b64encode(bytes(range(32))).decode()])


class MemoryStorage:
    """``MediaStorage`` in memory (an interface of ours)."""

    def __init__(self) -> None:
        self.files: dict[tuple[uuid.UUID, str], bytes] = {}

    async def put(
        self, tenant_id: uuid.UUID, name: str, data: bytes, content_type: str | None
    ) -> StoredMedia:
        self.files[(tenant_id, name)] = data
        return StoredMedia(name, len(data), "sha", content_type)

    async def get(self, tenant_id: uuid.UUID, key: str) -> bytes:
        try:
            return self.files[(tenant_id, key)]
        except KeyError as exc:
            raise FileNotFoundError(key) from exc


class World:
    def __init__(self, *answers: Any, uploads: list[Any] | None = None, **job: Any) -> None:
        self.store, self.notes = FakeSendStore(), FakeNotifications()
        self.graph = FakeGraph(list(answers), upload_answers=list(uploads or []))
        self.storage = MemoryStorage()
        account_id = uuid.uuid4()
        sealed = KEYRING.encrypt("EAA-token", aad=binding(TENANT, account_id, CREDENTIALS_FIELD))
        base: dict[str, Any] = {
            "message_id": uuid.uuid4(),
            "chat_id": uuid.uuid4(),
            "channel": "whatsapp",
            "direction": "outbound",
            "status": "queued",
            "text": None,
            "send_attempted_at": None,
            "reply_to_external_id": None,
            "last_inbound_at": NOW - timedelta(hours=1),
            "account_id": account_id,
            "account_external_id": "106540352242922",
            "account_status": "active",
            "account_active": True,
            "recipient": "34600111222",
        }
        self.job = self.store.add(SendJob(**(base | job)), sealed)
        self.deps = SenderDeps(
            store=self.store,
            graph=self.graph,
            keyring=KEYRING,
            pacer=FakePacer(),
            notify=self.notes,
            retry_delays=3,
            clock=lambda: NOW,
            storage=self.storage,
        )

    def stored_file(self, content: bytes = b"%PDF-1.4 menu") -> None:
        self.storage.files[(TENANT, "out-1.pdf")] = content

    async def send(self, attempt: int = 1) -> None:
        command = SendReply(tenant_id=TENANT, message_id=self.job.message_id, channel=self.job.channel)
        await handle_send(self.deps, command, attempt=attempt, correlation_id="c")

    @property
    def row(self) -> SendJob:
        return self.store.jobs[self.job.message_id]


TEMPLATE = {
    "name": "booking_confirmation",
    "language": "en_US",
    "components": [{"type": "body", "parameters": [{"type": "text", "text": "Olga"}]}],
}
PDF_MEDIA = {
    "direction": "outbound",
    "kind": "document",
    "state": "stored",
    "storage_key": "out-1.pdf",
    "mime_type": "application/pdf",
    "filename": "menu.pdf",
    "size": 13,
}


async def test_a_template_goes_after_the_24_hour_window() -> None:
    world = World(kind="template", text="Hi Olga", template=TEMPLATE, last_inbound_at=NOW - timedelta(days=3))
    await world.send()
    assert world.row.status == "sent"
    call = world.graph.calls[0]
    assert call["kind"] == "template"
    assert call["template"].name == "booking_confirmation"
    assert call["template"].components == TEMPLATE["components"]


async def test_a_file_is_uploaded_once_then_sent_by_its_id() -> None:
    world = World(kind="document", media=PDF_MEDIA, uploads=["media-42"])
    world.stored_file()
    await world.send()
    assert world.row.status == "sent"
    assert world.graph.uploads == [
        {"account_id": "106540352242922", "size": 13, "mime_type": "application/pdf"}
    ]
    media = world.graph.calls[0]["media"]
    assert (media.kind, media.ref, media.filename) == ("document", "media-42", "menu.pdf")
    assert world.row.media is not None
    assert world.row.media["meta_id"] == "media-42"


async def test_sending_again_reuses_metas_id_without_uploading() -> None:
    recorded = PDF_MEDIA | {
        "meta_id": "media-7",
        "meta_id_at": (NOW - timedelta(days=2)).isoformat(),
        "meta_account": "106540352242922",
    }
    world = World(kind="document", media=recorded)
    world.stored_file()
    await world.send()
    assert world.row.status == "sent"
    assert world.graph.uploads == []
    assert world.graph.calls[0]["media"].ref == "media-7"


async def test_an_expired_media_id_is_uploaded_again() -> None:
    recorded = PDF_MEDIA | {
        "meta_id": "media-7",
        "meta_id_at": (NOW - timedelta(days=30)).isoformat(),
        "meta_account": "106540352242922",
    }
    world = World(kind="document", media=recorded, uploads=["media-8"])
    world.stored_file()
    await world.send()
    assert world.graph.calls[0]["media"].ref == "media-8"


async def test_a_file_meta_refuses_fails_in_plain_words_and_is_never_sent() -> None:
    refused = GraphError("(#131053) Media upload error", code=131053, http_status=400)
    world = World(kind="document", media=PDF_MEDIA, uploads=[refused])
    world.stored_file()
    await world.send()
    assert world.row.status == "failed"
    assert world.graph.calls == []
    assert "refused the file" in (world.store.errors[world.job.message_id][1] or "")


async def test_a_transient_upload_failure_is_retried() -> None:
    down = GraphError("x", code=2, http_status=503)
    world = World(kind="document", media=PDF_MEDIA, uploads=[down])
    world.stored_file()
    with pytest.raises(Retry):
        await world.send()
    assert world.row.status == "queued"
    assert world.graph.calls == []


async def test_a_missing_file_fails_without_calling_meta() -> None:
    world = World(kind="document", media=PDF_MEDIA)
    await world.send()
    assert world.row.status == "failed"
    assert world.graph.uploads == []
    assert world.graph.calls == []


async def test_a_refused_template_fails_at_once_and_tells_the_owner() -> None:
    refused = GraphError("(#132000) Number of parameters does not match", code=132000, http_status=400)
    assert refused.error_class is ErrorClass.TEMPLATE
    world = World(refused, kind="template", text="Hi", template=TEMPLATE)
    await world.send()
    assert world.row.status == "failed"
    code, reason = world.store.errors[world.job.message_id]
    assert code == "132000"
    assert "wrong number of values" in (reason or "")
    assert [n.kind for n in world.store.notices] == ["template_refused"]
    assert "booking_confirmation" in world.store.notices[0].title
    assert "notification" in world.notes.kinds()


async def test_messenger_past_24_hours_goes_as_human_agent_when_the_setting_is_on() -> None:
    world = World(
        channel="facebook",
        kind="text",
        text="Sorry for the wait",
        recipient="PSID",
        last_inbound_at=NOW - timedelta(days=2),
        human_agent=True,
    )
    await world.send()
    assert world.row.status == "sent"
    assert world.graph.calls[0]["tag"] == "HUMAN_AGENT"


async def test_messenger_past_24_hours_without_the_setting_is_refused_before_any_call() -> None:
    world = World(
        channel="facebook", kind="text", text="Hi", recipient="PSID", last_inbound_at=NOW - timedelta(days=2)
    )
    await world.send()
    assert world.row.status == "failed"
    assert world.graph.calls == []
    assert world.store.errors[world.job.message_id][0] == "outside_window"


async def test_instagram_past_7_days_is_refused_even_with_the_tag() -> None:
    world = World(
        channel="instagram",
        kind="text",
        text="Hi",
        recipient="IGSID",
        last_inbound_at=NOW - timedelta(days=8),
        human_agent=True,
    )
    await world.send()
    assert world.row.status == "failed"
    assert "7 days" in (world.store.errors[world.job.message_id][1] or "")


async def test_an_attempt_that_lost_its_claim_while_uploading_does_not_send() -> None:
    world = World(kind="document", media=PDF_MEDIA)
    world.stored_file()

    async def lost(*_a: Any, **_k: Any) -> bool:
        return False  # a later delivery requeued the message meanwhile

    world.store.record_upload = lost
    await world.send()
    assert world.graph.uploads
    assert world.graph.calls == []
