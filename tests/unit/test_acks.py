"""AckWindow: which acks a channel sends, and that a multiple ack never covers an unhandled delivery."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omni_common.broker.acks import Ack, Acker, AckWindow


class Broker:
    """The broker's side of one channel: which tags are settled, and in what order acks settle them."""

    def __init__(self, nacked: set[int]) -> None:
        self.settled = set(nacked)
        self.acked: list[int] = []

    def apply(self, acks: list[Ack]) -> None:
        for ack in acks:
            # RabbitMQ closes the channel on an ack whose own tag is not outstanding (precondition
            # failed: unknown delivery tag), multiple or not.
            assert ack.tag not in self.settled, f"ack of settled tag {ack.tag}"
            # A multiple ack settles every delivery up to its tag not settled yet; a single one, itself.
            tags = range(1, ack.tag + 1) if ack.multiple else [ack.tag]
            for tag in tags:
                if tag not in self.settled:
                    self.settled.add(tag)
                    self.acked.append(tag)


def test_in_order_deliveries_go_as_one_multiple_ack() -> None:
    window = AckWindow(hold=1.0)
    for tag in range(1, 101):
        window.handled(tag, now=0.0)
    assert window.take(0.0) == [Ack(100, multiple=True)]
    assert window.waiting == 0
    assert window.take(5.0) == []


def test_a_gap_holds_later_ones_until_the_hold_passes_then_they_go_alone() -> None:
    window = AckWindow(hold=0.1)
    for tag in (1, 2, 4, 5):
        window.handled(tag, now=0.0)
    assert window.take(0.05) == [Ack(2, multiple=True)]  # 3 is still being handled
    assert window.take(0.2) == [Ack(4, multiple=False), Ack(5, multiple=False)]
    window.handled(3, now=0.3)
    window.handled(6, now=0.3)
    # 4 and 5 are gone already: the run 3..6 is one multiple ack, which the broker applies to 3 and 6.
    assert window.take(0.3) == [Ack(6, multiple=True)]


def test_a_nacked_delivery_is_never_acked_but_does_not_block_the_run() -> None:
    window = AckWindow(hold=10.0)
    window.handled(1, now=0.0)
    window.settled(2)  # nacked by the runner (its frame already queued)
    window.handled(3, now=0.0)
    assert window.take(0.0) == [Ack(3, multiple=True)]


def test_everything_acks_out_of_order_ones_at_once() -> None:
    window = AckWindow(hold=10.0)
    window.handled(2, now=0.0)
    window.handled(5, now=0.0)
    assert window.take(0.0) == []
    assert window.take(0.0, everything=True) == [Ack(2, multiple=False), Ack(5, multiple=False)]


def test_a_tag_is_settled_once() -> None:
    window = AckWindow()
    window.handled(1, now=0.0)
    with pytest.raises(ValueError, match="already settled"):
        window.handled(1, now=0.0)
    window.take(0.0)
    with pytest.raises(ValueError, match="already settled"):
        window.settled(1)


def test_a_crowded_window_acks_its_oldest_out_of_order_ones_at_once() -> None:
    window = AckWindow(hold=60.0, max_held=2)
    for tag in (2, 3, 4, 5):  # 1 is slow: none of these can go in a multiple ack
        window.handled(tag, now=float(tag))
    assert window.take(5.0) == [Ack(2, multiple=False), Ack(3, multiple=False)]
    assert window.waiting == 2


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 60),
    hold=st.sampled_from([0.0, 0.05, 1.0]),
    max_held=st.sampled_from([None, 1, 5]),
)
def test_every_handled_delivery_is_acked_once_and_no_ack_covers_an_unhandled_one(
    data: st.DataObject, n: int, hold: float, max_held: int | None
) -> None:
    order = data.draw(st.permutations(list(range(1, n + 1))))
    nacked = set(data.draw(st.lists(st.sampled_from(order), max_size=n // 4, unique=True)))
    window = AckWindow(hold=hold, max_held=max_held)
    broker = Broker(nacked)
    handled: set[int] = set()
    now = 0.0
    for tag in order:
        now += data.draw(st.sampled_from([0.0, 0.01, 0.2]))
        if tag in nacked:
            window.settled(tag)
        else:
            window.handled(tag, now)
            handled.add(tag)
        if data.draw(st.booleans()):
            broker.apply(window.take(now))
            # The safety rule: nothing acked that is not handled here.
            assert set(broker.acked) <= handled
            if max_held is not None:
                assert window.waiting <= max_held
    broker.apply(window.take(now + 10.0, everything=True))
    assert sorted(broker.acked) == sorted(handled)
    assert window.waiting == 0


class FakeChannel:
    """Records the ack frames an Acker writes (an aiormq channel's surface, no broker)."""

    def __init__(self) -> None:
        self.frames: list[Ack] = []
        self.is_closed = False

    async def basic_ack(self, delivery_tag: int, multiple: bool = False, wait: bool = True) -> None:
        if self.is_closed:
            raise RuntimeError("channel closed")
        self.frames.append(Ack(delivery_tag, multiple))


async def test_acker_sends_one_frame_for_a_burst_and_everything_on_close() -> None:
    acker = Acker(interval=0.001, hold=60.0)
    acker.start()
    channel = FakeChannel()
    for tag in range(1, 51):
        acker.handled(channel, tag)
    acker.handled(channel, 60)  # 51..59 still in flight
    for _ in range(100):
        if channel.frames:
            break
        await asyncio.sleep(0.001)
    assert channel.frames == [Ack(50, multiple=True)]
    await acker.close()
    assert channel.frames == [Ack(50, multiple=True), Ack(60, multiple=False)]


async def test_acker_drops_the_acks_of_a_closed_channel() -> None:
    acker = Acker(interval=0.001)
    old, new = FakeChannel(), FakeChannel()
    acker.handled(old, 1)
    old.is_closed = True  # its deliveries are redelivered on the new channel, tags from 1 again
    acker.handled(new, 1)
    await acker.flush()
    assert old.frames == []
    assert new.frames == [Ack(1, multiple=True)]
    assert acker.waiting == 0
