"""Live notifications onto the notifications fanout: one message per tenant for the notes offered
together (``NotificationBatch``), each note keeping its key as its live event id."""

from __future__ import annotations

from omni_common.broker.fanout import Fanout, Note
from omni_common.broker.publisher import Publisher
from omni_common.contracts import NotificationEvent, encode, encode_notification_batch


def notification_note(event: NotificationEvent, *, key: str, correlation_id: str | None) -> Note:
    """``event`` ready for the fan-out, grouped by its tenant (``key``: its stable id)."""
    return Note(encode(event), key, correlation_id, group=str(event.tenant_id))


def join_notifications(notes: list[Note]) -> Note:
    """Notes of one tenant as one ``NotificationBatch`` message, in their order."""
    first = notes[0]
    if first.group is None or any(n.group != first.group for n in notes):
        raise ValueError("a batch holds the notes of one tenant")
    body = encode_notification_batch(first.group, [(n.message_id, n.body) for n in notes])
    # Inboxes take each note's own key as its id; the message id only names the batch in traces.
    return Note(body, f"{first.message_id}+{len(notes) - 1}", first.correlation_id, first.group)


def notification_fanout(publisher: Publisher, exchange: str) -> Fanout:
    """A started, coalescing fan-out onto ``exchange`` (``publisher`` without confirms)."""

    async def send(note: Note) -> None:
        await publisher.publish(
            "",
            note.body,
            message_id=note.message_id,
            correlation_id=note.correlation_id,
            exchange=exchange,
            mandatory=False,  # no live inbox bound is normal
        )

    fanout = Fanout(send, join=join_notifications)
    fanout.start()
    return fanout
