"""One tenant's live notifications in one message (issue 24 step 3): the batch's wire form, the
fan-out's join, and what an inbox makes of either form (a plain event is still understood)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from omni_common.broker.fanout import Note
from omni_common.broker.notifications import join_notifications, notification_note
from omni_common.contracts import (
    KeyedNotification,
    NotificationBatch,
    NotificationEvent,
    encode,
    encode_notification_batch,
    notifications_in,
)

TENANT, OTHER = uuid.uuid4(), uuid.uuid4()


def status(n: int, tenant: uuid.UUID = TENANT) -> NotificationEvent:
    return NotificationEvent(
        tenant_id=tenant,
        kind="message.status",
        chat_id=uuid.uuid4(),
        message_id=uuid.uuid4(),
        data={"status": "delivered", "n": n, "text": 'a "quoted" ünïcode\n'},
        occurred_at=datetime.now(UTC),
    )


@given(keys=st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=8))
def test_the_spliced_wire_form_decodes_to_the_same_batch(keys: list[str]) -> None:
    events = [status(n) for n in range(len(keys))]
    body = encode_notification_batch(str(TENANT), [(k, encode(e)) for k, e in zip(keys, events, strict=True)])
    model = NotificationBatch(
        tenant_id=TENANT,
        notes=tuple(KeyedNotification(key=k, event=e) for k, e in zip(keys, events, strict=True)),
    )
    assert NotificationBatch.model_validate_json(body) == model
    assert notifications_in(body, "ignored") == list(zip(keys, events, strict=True))


def test_a_plain_event_is_still_understood_and_keyed_by_its_message_id() -> None:
    event = status(0)
    assert notifications_in(encode(event), "wamid.x:42") == [("wamid.x:42", event)]
    assert notifications_in(encode(event), None) == [("", event)]


def test_a_batch_of_another_tenants_note_or_of_nothing_is_refused() -> None:
    mixed = encode_notification_batch(
        str(TENANT), [("k1", encode(status(0))), ("k2", encode(status(1, OTHER)))]
    )
    with pytest.raises(ValidationError):
        notifications_in(mixed, None)
    with pytest.raises(ValidationError):
        notifications_in(
            b'{"type":"notification.batch","version":1,"tenant_id":"%s","notes":[]}' % str(TENANT).encode(),
            None,
        )
    with pytest.raises(ValidationError):
        notifications_in(b'{"type":"webhook.raw"}', None)


def test_the_fanout_join_carries_each_notes_key_in_order() -> None:
    notes = [notification_note(status(n), key=f"d{n}:m", correlation_id=f"c{n}") for n in range(3)]
    joined = join_notifications(notes)
    assert joined.group == str(TENANT)
    assert joined.correlation_id == "c0"
    assert [k for k, _ in notifications_in(joined.body, joined.message_id)] == ["d0:m", "d1:m", "d2:m"]
    with pytest.raises(ValueError, match="one tenant"):
        join_notifications([notes[0], notification_note(status(9, OTHER), key="x", correlation_id=None)])
    with pytest.raises(ValueError, match="one tenant"):
        join_notifications([Note(b"{}", "a", None), Note(b"{}", "b", None)])
