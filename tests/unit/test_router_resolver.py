"""The router's account cache: hits, misses, invalidation, and one catalog lookup per key at a time."""

from __future__ import annotations

import asyncio

import pytest

from tenant_router.resolver import CachedResolver


class Catalog:
    """A lookup that counts its calls and answers when released."""

    def __init__(self, answers: dict[tuple[str, str], str]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str]] = []
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def lookup(self, channel: str, account: str) -> str | None:
        self.calls.append((channel, account))
        answer = self.answers.get((channel, account))  # read now, answered when released
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_concurrent_misses_share_one_lookup_and_the_answer_is_cached() -> None:
    async def scenario() -> None:
        catalog, clock = Catalog({("whatsapp", "1"): "t1"}), Clock()
        resolver: CachedResolver[str] = CachedResolver(catalog.lookup, ttl_s=60, clock=clock)
        waiting = [asyncio.ensure_future(resolver.resolve("whatsapp", "1")) for _ in range(200)]
        other = asyncio.ensure_future(resolver.resolve("facebook", "9"))
        await asyncio.sleep(0)
        catalog.release.set()
        assert await asyncio.gather(*waiting) == ["t1"] * 200
        assert await other is None
        assert catalog.calls == [("whatsapp", "1"), ("facebook", "9")]
        assert await resolver.resolve("whatsapp", "1") == "t1"  # cached
        assert len(catalog.calls) == 2
        clock.now = 61
        assert await resolver.resolve("whatsapp", "1") == "t1"  # expired: asked again
        assert len(catalog.calls) == 3

    asyncio.run(scenario())


def test_a_failed_lookup_reaches_every_waiter_and_is_not_cached() -> None:
    async def scenario() -> None:
        catalog = Catalog({("whatsapp", "1"): "t1"})
        resolver: CachedResolver[str] = CachedResolver(catalog.lookup)
        catalog.fail = ConnectionError("catalog down")
        waiting = [asyncio.ensure_future(resolver.resolve("whatsapp", "1")) for _ in range(3)]
        await asyncio.sleep(0)
        catalog.release.set()
        for outcome in await asyncio.gather(*waiting, return_exceptions=True):
            assert isinstance(outcome, ConnectionError)
        catalog.fail = None
        assert await resolver.resolve("whatsapp", "1") == "t1"
        assert len(catalog.calls) == 2

    asyncio.run(scenario())


def test_a_change_during_a_lookup_is_not_overwritten_by_its_stale_answer() -> None:
    async def scenario() -> None:
        catalog = Catalog({("whatsapp", "1"): "old"})
        resolver: CachedResolver[str] = CachedResolver(catalog.lookup)
        first = asyncio.ensure_future(resolver.resolve("whatsapp", "1"))
        while not catalog.calls:  # the lookup has read the catalog
            await asyncio.sleep(0)
        resolver.on_notification("whatsapp:1")  # the account moved while the first lookup ran
        catalog.answers[("whatsapp", "1")] = "new"
        catalog.release.set()
        assert await first == "old"  # answered as read, but not kept
        assert await resolver.resolve("whatsapp", "1") == "new"
        assert len(catalog.calls) == 2

    asyncio.run(scenario())


@pytest.mark.parametrize("payload", ["*", "whatsapp:1"])
def test_notifications_forget_cached_accounts(payload: str) -> None:
    async def scenario() -> None:
        catalog = Catalog({("whatsapp", "1"): "t1"})
        catalog.release.set()
        resolver: CachedResolver[str] = CachedResolver(catalog.lookup)
        await resolver.resolve("whatsapp", "1")
        resolver.on_notification(payload)
        await resolver.resolve("whatsapp", "1")
        assert len(catalog.calls) == 2

    asyncio.run(scenario())
