"""The best-effort fan-out: in order, off the caller's path, bounded, never raising into handlers."""

from __future__ import annotations

import asyncio

from omni_common.broker.fanout import DROPPED, Fanout, Note


def _note(n: int) -> Note:
    return Note(body=str(n).encode(), message_id=f"m{n}", correlation_id=None)


async def test_offered_notes_are_sent_in_order_and_close_drains_them() -> None:
    sent: list[str] = []

    async def send(note: Note) -> None:
        sent.append(note.message_id)

    fanout = Fanout(send)
    fanout.start()
    for n in range(5):
        fanout.offer(_note(n))  # returns at once: nothing awaited by the caller
    await fanout.close()
    assert sent == [f"m{n}" for n in range(5)]
    assert fanout.pending == 0


async def test_a_full_queue_drops_the_oldest_and_counts_it() -> None:
    release = asyncio.Event()
    sent: list[str] = []

    async def send(note: Note) -> None:
        await release.wait()
        sent.append(note.message_id)

    before = DROPPED._value.get()
    fanout = Fanout(send, limit=3)
    for n in range(5):  # not started yet: all five wait in a queue of three
        fanout.offer(_note(n))
    assert fanout.pending == 3
    assert DROPPED._value.get() - before == 2
    fanout.start()
    release.set()
    await fanout.close()
    assert sent == ["m2", "m3", "m4"]


async def test_a_failing_send_is_logged_and_the_next_note_still_goes() -> None:
    sent: list[str] = []

    async def send(note: Note) -> None:
        if note.message_id == "m0":
            raise ConnectionError("broker gone")
        sent.append(note.message_id)

    fanout = Fanout(send)
    fanout.start()
    fanout.offer(_note(0))
    fanout.offer(_note(1))
    await fanout.close()
    assert sent == ["m1"]
