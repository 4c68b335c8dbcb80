"""Catching up on live events on any replica (issue 22): ids are the broker's message ids, the same on
every replica, so a browser whose replica went away resumes on another that saw the same events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from inbox_api.adapters.events import EventHub
from omni_common.contracts import NotificationEvent

TENANT, OTHER = uuid.uuid4(), uuid.uuid4()


def event(tenant: uuid.UUID = TENANT, n: int = 0) -> NotificationEvent:
    return NotificationEvent(
        tenant_id=tenant, kind="message.created", data={"n": n}, occurred_at=datetime.now(UTC)
    )


def hub_with(ids: list[str], tenant: uuid.UUID = TENANT) -> EventHub:
    hub = EventHub(exchange="omni.notifications")
    for n, eid in enumerate(ids):
        hub.dispatch(event(tenant, n), eid)
    return hub


def test_another_replica_replays_what_followed_the_browsers_last_event() -> None:
    a = hub_with(["e1", "e2", "e3"])
    b = hub_with(["e1", "e2", "e3", "e4", "e5"])
    seen_on_a = a.format(a.missed(TENANT, "e1")[-1])  # type: ignore[index]
    assert seen_on_a.startswith(b"id: e3\n")  # the id the browser sends back as Last-Event-ID
    replay = b.missed(TENANT, "e3")
    assert replay is not None
    assert [e.eid for e in replay if e.eid not in ("e1", "e2")] == ["e4", "e5"]


def test_events_that_arrived_just_before_in_another_order_are_replayed_too() -> None:
    # e2 and e3 came from two publishers and reached the replicas in opposite orders.
    b = hub_with(["e1", "e3", "e2", "e4"])
    replay = b.missed(TENANT, "e2")
    assert replay is not None
    assert {e.eid for e in replay} >= {"e3", "e4"}


@pytest.mark.parametrize("last", ["unknown", "boot:12"])
def test_an_id_this_replica_never_saw_means_resync(last: str) -> None:
    assert hub_with(["e1", "e2"]).missed(TENANT, last) is None


def test_no_last_id_no_replay_and_tenants_never_mix() -> None:
    hub = hub_with(["e1", "e2"])
    hub.dispatch(event(OTHER), "x1")
    assert hub.missed(TENANT, None) == []
    assert hub.missed(OTHER, "e1") is None  # another tenant's id is unknown to this tenant
    replay = hub.missed(TENANT, "e1")
    assert replay is not None
    assert all(e.eid != "x1" for e in replay)


def test_an_id_unfit_for_the_stream_is_replaced() -> None:
    hub = hub_with(["bad id\nevent: x", ""])
    ids = [e.eid for e in hub.missed(TENANT, hub_with([]).boot + ":0") or []] or [
        e.eid for e in hub._buffers[TENANT]
    ]
    assert all(" " not in i and "\n" not in i and i for i in ids)


def test_every_note_of_a_batch_is_its_own_event_with_its_key_on_every_replica() -> None:
    from omni_common.contracts import encode, encode_notification_batch

    notes = [(f"d{n}:m{n}", encode(event(TENANT, n))) for n in range(3)]
    batch = encode_notification_batch(str(TENANT), notes)
    a, b = EventHub(exchange="omni.notifications"), EventHub(exchange="omni.notifications")
    heard: list[int] = []
    b.on_event = lambda e: heard.append(e.data["n"])
    for hub in (a, b):
        hub.receive(encode(event(OTHER, 9)), "x1")  # a plain event (an older publisher) next to a batch
        hub.receive(batch, "d0:m0+2")
    assert [e.eid for e in a._buffers[TENANT]] == ["d0:m0", "d1:m1", "d2:m2"]
    assert [e.eid for e in b._buffers[TENANT]] == ["d0:m0", "d1:m1", "d2:m2"]
    assert heard == [9, 0, 1, 2]
    # A browser that saw the first note on replica a catches up on b with the other two, per note.
    seen_on_a = a.format(a._buffers[TENANT][0])
    assert seen_on_a.startswith(b"id: d0:m0\n")
    replay = b.missed(TENANT, "d0:m0")
    assert replay is not None
    assert [e.eid for e in replay] == ["d1:m1", "d2:m2"]
    assert b.missed(OTHER, "d0:m0") is None  # never another tenant's


def test_a_malformed_message_is_dropped() -> None:
    hub = EventHub(exchange="omni.notifications")
    hub.receive(b'{"type":"notification.batch","notes":[]}', "m")
    hub.receive(b"not json", "m")
    assert hub._buffers == {}
