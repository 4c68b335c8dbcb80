"""Which webhooks share a broker message (ingress_webhooks.window); how each learns its outcome (shared)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingress_webhooks.api import BrokerUnavailable
from ingress_webhooks.shared import SharedStore, shared_message
from ingress_webhooks.window import ShareLimits, ShareWindows
from omni_common.contracts import RawWebhook, RawWebhookBatch, decode
from omni_common.contracts.events import raw_webhook_fields

# An operation on the windows: a body (channel, size) arriving after ``dt`` seconds, or a timer firing.
_ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("body"),
            st.sampled_from(["whatsapp", "facebook"]),
            st.integers(1, 400),
            st.floats(0, 0.004),
        ),
        st.tuples(st.just("tick"), st.just(""), st.just(0), st.floats(0, 0.004)),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(
    ops=_ops,
    window_s=st.sampled_from([0.0, 0.001, 0.002]),
    max_bodies=st.integers(1, 8),
    max_bytes=st.integers(1, 1500),
)
def test_every_body_is_in_exactly_one_message_in_order_and_within_the_bounds(
    ops: list[tuple[str, str, int, float]], window_s: float, max_bodies: int, max_bytes: int
) -> None:
    limits = ShareLimits(window_s, max_bodies, max_bytes)
    windows: ShareWindows[str, tuple[str, int, int, float]] = ShareWindows(limits)
    timers: list[tuple[float, str, int]] = []  # (due, channel, window id): what the event loop would hold
    closed: list[tuple[str, list[tuple[str, int, int, float]]]] = []
    now, seq = 0.0, 0
    for kind, channel, size, dt in ops:
        now += dt
        for due, ch, wid in [t for t in timers if t[0] <= now]:  # timers fire on time
            timers.remove((due, ch, wid))
            items = windows.expire(ch, wid)
            if items is not None:
                closed.append((ch, items))
        if kind == "body":
            seq += 1
            added = windows.add(channel, (channel, seq, size, now), size, now)
            if added.closed is not None:
                closed.append((channel, added.closed))
            elif added.opened:
                timers.append((now + window_s, channel, added.window_id))
    closed += windows.close_all()

    sent = [item for _, items in closed for item in items]
    assert sorted(i[1] for i in sent) == list(range(1, seq + 1))  # each body once, none lost
    for channel, items in closed:
        assert items
        assert all(i[0] == channel for i in items)  # one channel per message
        assert [i[1] for i in items] == sorted(i[1] for i in items)  # arrival order kept
        assert len(items) <= max_bodies
        assert sum(i[2] for i in items[:-1]) < max_bytes  # only the last body may cross the byte bound
        assert items[-1][3] - items[0][3] <= window_s + 1e-9  # no body waited longer than the window
    if window_s == 0:
        assert all(len(items) == 1 for _, items in closed)  # 0 = one message per webhook, as before


def test_a_timer_of_a_window_already_closed_by_size_closes_nothing() -> None:
    windows: ShareWindows[str, int] = ShareWindows(ShareLimits(0.002, 2, 10_000))
    first = windows.add("whatsapp", 1, 10, 0.0)
    assert first.opened
    assert first.closed is None
    assert windows.add("whatsapp", 2, 10, 0.0005).closed == [1, 2]
    third = windows.add("whatsapp", 3, 10, 0.001)  # a new window, with its own timer
    assert windows.expire("whatsapp", first.window_id) is None
    assert windows.expire("whatsapp", third.window_id) == [3]


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="invalid share limits"):
        ShareLimits(-1, 4, 10)
    with pytest.raises(ValueError, match="invalid share limits"):
        ShareLimits(0.002, 0, 10)


def _fields(n: int, channel: str = "whatsapp") -> dict[str, Any]:
    return raw_webhook_fields(
        delivery_id=f"d{n}",
        channel=channel,
        received_at=datetime.now(UTC),
        body=f'{{"n":{n}}}'.encode(),  # type: ignore[arg-type]
    )


def test_one_webhook_goes_out_as_a_plain_raw_webhook_several_as_a_batch() -> None:
    alone = shared_message([_fields(1)])
    assert decode(RawWebhook, alone).delivery_id == "d1"
    assert [d.delivery_id for d in decode(RawWebhookBatch, alone).deliveries] == ["d1"]
    batch = decode(RawWebhookBatch, shared_message([_fields(1), _fields(2, "facebook")]))
    assert [(d.delivery_id, d.channel, d.body) for d in batch.deliveries] == [
        ("d1", "whatsapp", b'{"n":1}'),
        ("d2", "facebook", b'{"n":2}'),
    ]
    assert all(d.signature_verified for d in batch.deliveries)


class _Broker:
    """The publish function of ``SharedStore``: records messages, confirms or refuses them when told."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, int]] = []  # (message id, bodies)
        self.confirms: list[asyncio.Future[None]] = []

    async def publish(self, _channel: str, message_id: str, _body: bytes, bodies: int) -> None:
        self.messages.append((message_id, bodies))
        confirm: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.confirms.append(confirm)
        await confirm


async def _until(check: Any) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition not reached")


async def test_requests_sharing_a_message_are_answered_only_by_its_confirm() -> None:
    broker = _Broker()
    store = SharedStore(broker.publish, ShareLimits(window_s=0.05, max_bodies=3, max_bytes=1_000_000))
    requests = [asyncio.ensure_future(store.store(f"d{n}", "whatsapp", _fields(n))) for n in range(5)]
    await _until(lambda: len(broker.messages) == 1)  # 3 bodies filled the first window at once
    assert broker.messages == [("shared-d0", 3)]
    await asyncio.sleep(0.01)
    assert not any(r.done() for r in requests)  # nobody answered before the confirm
    broker.confirms[0].set_result(None)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert [r.done() for r in requests] == [True, True, True, False, False]
    await _until(lambda: len(broker.messages) == 2)  # the rest leaves when its window ends
    assert broker.messages[1] == ("shared-d3", 2)
    broker.confirms[1].set_exception(BrokerUnavailable())
    for r in requests[3:]:
        with pytest.raises(BrokerUnavailable):  # every request of the refused message: 503
            await r
    await store.close()


async def test_successive_messages_are_pipelined_not_serialised() -> None:
    broker = _Broker()
    store = SharedStore(broker.publish, ShareLimits(window_s=0.05, max_bodies=2, max_bytes=1_000_000))
    requests = [asyncio.ensure_future(store.store(f"d{n}", "facebook", _fields(n))) for n in range(6)]
    await _until(lambda: len(broker.messages) == 3)  # three messages out before any confirm
    for confirm in reversed(broker.confirms):  # confirms may arrive in any order
        confirm.set_result(None)
    await asyncio.gather(*requests)


async def test_closing_publishes_the_open_windows_and_waits_for_their_confirms() -> None:
    broker = _Broker()
    store = SharedStore(broker.publish, ShareLimits(window_s=10, max_bodies=100, max_bytes=1_000_000))
    request = asyncio.ensure_future(store.store("d1", "instagram", _fields(1, "instagram")))
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(store.close())
    await _until(lambda: len(broker.messages) == 1)
    assert not closing.done()
    broker.confirms[0].set_result(None)
    await closing
    await request
