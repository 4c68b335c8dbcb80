"""The best-effort fan-out: in order, off the caller's path, bounded, never raising into handlers."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from omni_common.broker.fanout import DROPPED, Fanout, Note, coalesce


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


# Coalescing (issue 24 step 3): the notes of one tenant offered together leave as one message.

groups = st.sampled_from(["t1", "t2", "t3", None])
sizes = st.integers(min_value=1, max_value=400)


@st.composite
def offered(draw: st.DrawFn) -> list[Note]:
    picks = draw(st.lists(st.tuples(groups, sizes), max_size=120))
    return [Note(b"x" * size, f"m{n}", None, group) for n, (group, size) in enumerate(picks)]


@given(
    notes=offered(),
    max_notes=st.integers(min_value=1, max_value=20),
    max_bytes=st.integers(min_value=1, max_value=2_000),
)
def test_coalescing_keeps_every_note_once_in_order_within_bounds(
    notes: list[Note], max_notes: int, max_bytes: int
) -> None:
    batches = coalesce(notes, max_notes=max_notes, max_bytes=max_bytes)
    flat = [n.message_id for b in batches for n in b]
    assert sorted(flat) == sorted(n.message_id for n in notes)  # each note exactly once
    for batch in batches:
        assert len({n.group for n in batch}) == 1  # one tenant per message
        assert len(batch) <= max_notes
        assert len(batch) == 1 or sum(len(n.body) for n in batch) <= max_bytes  # alone if too big
        if batch[0].group is None:
            assert len(batch) == 1
    for group in ("t1", "t2", "t3"):  # per tenant, the order they were offered in
        assert [n.message_id for n in notes if n.group == group] == [
            n.message_id for n in (m for b in batches for m in b) if n.group == group
        ]


@given(notes=offered())
def test_a_tenants_notes_within_the_bounds_share_one_message(notes: list[Note]) -> None:
    batches = coalesce(notes, max_notes=1_000, max_bytes=1_000_000)
    tenants = {n.group for n in notes if n.group is not None}
    assert len([b for b in batches if b[0].group is not None]) == len(tenants)


def _joined(notes: list[Note]) -> Note:
    return Note(b"|".join(n.body for n in notes), "+".join(n.message_id for n in notes), None, notes[0].group)


async def test_notes_offered_together_are_sent_as_one_message_per_tenant() -> None:
    sent: list[str] = []

    async def send(note: Note) -> None:
        sent.append(note.message_id)

    fanout = Fanout(send, join=_joined, window_s=0.001, max_notes=3)
    fanout.start()
    for n, group in enumerate(["a", "b", "a", "a", "a", None, "b"]):
        fanout.offer(Note(str(n).encode(), f"m{n}", None, group))
    await fanout.close()
    assert sent == ["m0+m2+m3", "m1+m6", "m4", "m5"]
    assert fanout.pending == 0


async def test_a_failed_batch_counts_each_of_its_notes_as_dropped() -> None:
    async def send(note: Note) -> None:
        raise ConnectionError("broker gone")

    before = DROPPED._value.get()
    fanout = Fanout(send, join=_joined, window_s=0.001)
    fanout.start()
    for n in range(4):
        fanout.offer(Note(b"x", f"m{n}", None, "a"))
    await fanout.close()
    assert DROPPED._value.get() - before == 4
    assert fanout.pending == 0


async def test_a_full_queue_still_drops_the_oldest_when_coalescing() -> None:
    sent: list[str] = []

    async def send(note: Note) -> None:
        sent.append(note.message_id)

    fanout = Fanout(send, join=_joined, limit=3)
    for n in range(5):  # not started yet
        fanout.offer(Note(b"x", f"m{n}", None, "a"))
    fanout.start()
    await fanout.close()
    assert sent == ["m2+m3+m4"]
