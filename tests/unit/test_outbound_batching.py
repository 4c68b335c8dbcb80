"""Per-tenant grouping of the sender's hot writes (pure asyncio, no database)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from outbound_sender.batching import TenantBatcher

A, B = uuid.uuid4(), uuid.uuid4()


async def test_concurrent_items_of_a_tenant_share_a_batch_and_get_their_own_result() -> None:
    batches: list[tuple[uuid.UUID, list[int]]] = []
    gate = asyncio.Event()

    async def run(tenant: uuid.UUID, items: list[int]) -> list[int]:
        batches.append((tenant, items))
        await gate.wait()  # the first batch is "in the database" while the others arrive
        return [i * 10 for i in items]

    batcher: TenantBatcher[int, int] = TenantBatcher(run)
    first = asyncio.create_task(batcher.submit(A, 1))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(batcher.submit(t, i)) for t, i in ((A, 2), (A, 3), (B, 4))]
    await asyncio.sleep(0)
    gate.set()
    assert await first == 10
    assert [await r for r in rest] == [20, 30, 40]
    assert sorted(batches) == sorted([(A, [1]), (A, [2, 3]), (B, [4])])


async def test_a_failed_batch_fails_each_of_its_items_and_the_next_batch_still_runs() -> None:
    calls = 0

    async def run(_tenant: uuid.UUID, items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        if calls == 1:
            raise ConnectionError("database went away")
        return items

    batcher: TenantBatcher[int, int] = TenantBatcher(run)
    first = asyncio.create_task(batcher.submit(A, 1))
    await asyncio.sleep(0)
    second = asyncio.create_task(batcher.submit(A, 2))
    with pytest.raises(ConnectionError):
        await first
    assert await second == 2
    assert await batcher.submit(A, 3) == 3  # the lane is reusable afterwards


async def test_batches_are_bounded() -> None:
    sizes: list[int] = []

    async def run(_tenant: uuid.UUID, items: list[int]) -> list[int]:
        sizes.append(len(items))
        await asyncio.sleep(0)
        return items

    batcher: TenantBatcher[int, int] = TenantBatcher(run, max_batch=3)
    assert await asyncio.gather(*(batcher.submit(A, i) for i in range(8))) == list(range(8))
    assert max(sizes) <= 3
    assert sum(sizes) == 8


async def test_a_wrong_result_count_is_an_error_not_a_silent_mismatch() -> None:
    async def run(_tenant: uuid.UUID, items: list[int]) -> list[int]:
        return items[:-1]

    batcher: TenantBatcher[int, int] = TenantBatcher(run)
    with pytest.raises(RuntimeError):
        await batcher.submit(A, 1)
