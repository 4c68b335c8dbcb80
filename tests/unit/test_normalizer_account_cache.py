"""The normalizer's cache of recently found accounts (pure logic, fake clock)."""

from __future__ import annotations

import uuid

from normalizer.accounts import AccountCache
from normalizer.model import AccountRow


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _row(status: str = "active", recorded: bool = False) -> AccountRow:
    return AccountRow(uuid.uuid4(), status, True, recorded)


def test_found_accounts_are_served_until_they_expire() -> None:
    clock = Clock()
    cache = AccountCache(ttl=5.0, clock=clock)
    tenant = uuid.uuid4()
    row = _row()
    cache.remember(tenant, {("whatsapp", "1"): row})

    found, missing = cache.lookup(tenant, {("whatsapp", "1"), ("facebook", "2")})
    assert found == {("whatsapp", "1"): row}
    assert missing == {("facebook", "2")}

    clock.now += 5.0
    found, missing = cache.lookup(tenant, {("whatsapp", "1")})
    assert found == {}
    assert missing == {("whatsapp", "1")}


def test_tenants_never_share_entries() -> None:
    cache = AccountCache(clock=Clock())
    a, b = uuid.uuid4(), uuid.uuid4()
    cache.remember(a, {("whatsapp", "1"): _row()})
    found, missing = cache.lookup(b, {("whatsapp", "1")})
    assert found == {}
    assert missing == {("whatsapp", "1")}


def test_a_touch_is_remembered_so_the_next_batch_does_not_repeat_it() -> None:
    cache = AccountCache(clock=Clock())
    tenant = uuid.uuid4()
    row = _row(recorded=False)
    cache.remember(tenant, {("instagram", "9"): row})
    cache.touched(tenant, {("instagram", "9"): row})
    found, _ = cache.lookup(tenant, {("instagram", "9")})
    assert found[("instagram", "9")].webhook_recorded
    assert found[("instagram", "9")].id == row.id


def test_forget_drops_only_that_tenant() -> None:
    cache = AccountCache(clock=Clock())
    a, b = uuid.uuid4(), uuid.uuid4()
    cache.remember(a, {("whatsapp", "1"): _row()})
    cache.remember(b, {("whatsapp", "1"): _row()})
    cache.forget(a)
    assert cache.lookup(a, {("whatsapp", "1")})[1] == {("whatsapp", "1")}
    assert cache.lookup(b, {("whatsapp", "1")})[1] == set()


def test_it_stays_bounded() -> None:
    clock = Clock()
    cache = AccountCache(ttl=5.0, max_entries=10, clock=clock)
    tenant = uuid.uuid4()
    for n in range(25):
        cache.remember(tenant, {("whatsapp", str(n)): _row()})
        assert len(cache._rows) <= 10
