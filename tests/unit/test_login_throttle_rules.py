"""The login throttle's policy, counters and client address as plain functions (issue 23, item 2)."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox_api.auth.client_ip import client_address, parse_networks
from inbox_api.auth.throttle import (
    ACCOUNT_SLOW_AFTER,
    ADDRESS_LIMIT,
    MAX_DELAY_S,
    PAIR_LIMIT,
    LoginThrottle,
    MemoryCounters,
    decide,
)

counts = st.integers(min_value=0, max_value=1000)


@given(counts, counts, counts)
def test_the_pair_and_the_address_refuse_the_account_only_slows(
    pair: int, address: int, account: int
) -> None:
    verdict = decide(pair, address, account, 600, 700)
    assert verdict.allowed == (pair < PAIR_LIMIT and address < ADDRESS_LIMIT)
    if not verdict.allowed:
        assert verdict.retry_after_s == (600 if pair >= PAIR_LIMIT else 700)
    else:
        assert 0 <= verdict.delay_s <= MAX_DELAY_S
        assert (verdict.delay_s > 0) == (account >= ACCOUNT_SLOW_AFTER)


def test_delays_grow_then_stop_growing() -> None:
    delays = [decide(0, 0, ACCOUNT_SLOW_AFTER + n, 0, 0).delay_s for n in range(8)]
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert delays[4:] == [MAX_DELAY_S] * 4


def test_memory_counters_forget_after_the_window() -> None:
    now = [0.0]
    counters = MemoryCounters(clock=lambda: now[0])
    throttle = LoginThrottle(counters, sleep=lambda _s: asyncio.sleep(0))

    async def run() -> None:
        for _ in range(PAIR_LIMIT):
            assert (await throttle.check("r", "a@x.test", "1.2.3.4")).allowed
            await throttle.failed("r", "a@x.test", "1.2.3.4")
        refused = await throttle.check("r", "a@x.test", "1.2.3.4")
        assert not refused.allowed
        assert 899 <= refused.retry_after_s <= 900
        assert (await throttle.check("r", "a@x.test", "5.6.7.8")).allowed  # the real user elsewhere
        assert (await throttle.check("R ", "A@X.test", "5.6.7.8")).allowed
        now[0] = 901.0
        assert (await throttle.check("r", "a@x.test", "1.2.3.4")).allowed

    asyncio.run(run())


def test_a_busy_hash_queue_answers_none_instead_of_piling_up() -> None:
    async def run() -> None:
        throttle = LoginThrottle(hash_slots=1, hash_wait_s=0.05)
        gate = asyncio.Event()

        async def slow() -> bool:
            await gate.wait()
            return True

        first = asyncio.create_task(throttle.hashing(slow))
        await asyncio.sleep(0)
        assert await throttle.hashing(slow) is None
        gate.set()
        assert await first is True

    asyncio.run(run())


PROXIES = parse_networks(["10.0.0.0/8", "127.0.0.1"])


def test_forwarded_for_is_believed_only_from_our_proxies() -> None:
    assert client_address("203.0.113.9", "1.1.1.1", PROXIES) == "203.0.113.9"
    assert client_address("10.1.2.3", "198.51.100.7", PROXIES) == "198.51.100.7"
    # A client's own forged hop on the left is skipped: the nearest untrusted hop is the client.
    assert client_address("10.1.2.3", "6.6.6.6, 198.51.100.7, 10.9.9.9", PROXIES) == "198.51.100.7"
    assert client_address("10.1.2.3", "not-an-ip", PROXIES) == "10.1.2.3"
    assert client_address("10.1.2.3", None, PROXIES) == "10.1.2.3"
    assert client_address(None, "1.1.1.1", PROXIES) == "unknown"
    assert client_address("127.0.0.1", "1.1.1.1", ()) == "127.0.0.1"


@given(st.ip_addresses(v=4), st.lists(st.ip_addresses(v=4), max_size=4))
def test_an_untrusted_peer_is_always_the_address(
    peer: ipaddress.IPv4Address, hops: list[ipaddress.IPv4Address]
) -> None:
    if any(peer in net for net in PROXIES):
        return
    assert client_address(str(peer), ", ".join(map(str, hops)), PROXIES) == str(peer)


def test_a_bad_proxy_entry_is_named() -> None:
    with pytest.raises(ValueError, match=r"proxy\.local"):
        parse_networks(["10.0.0.0/8", "proxy.local"])
