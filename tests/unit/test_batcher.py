"""KeyedBatcher: grouping per key, flush on size or time, one outcome per submitter (no broker)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omni_common.broker.batcher import KeyedBatcher


class Recorder:
    def __init__(self) -> None:
        self.batches: list[tuple[str, list[int]]] = []

    async def flush(self, key: str, items: list[int]) -> list[int | BaseException]:
        self.batches.append((key, list(items)))
        return [ValueError(f"bad {i}") if i < 0 else i * 10 for i in items]


async def _submit_all(batcher: KeyedBatcher[str, int, int], work: list[tuple[str, int]]) -> list[object]:
    tasks = [asyncio.ensure_future(batcher.submit(k, i)) for k, i in work]
    await asyncio.sleep(0)  # let every submitter join its group
    await batcher.flush_all()
    return list(await asyncio.gather(*tasks, return_exceptions=True))


@settings(max_examples=40, deadline=None)
@given(
    work=st.lists(st.tuples(st.sampled_from("abc"), st.integers(-3, 50)), max_size=40),
    max_items=st.integers(1, 7),
)
def test_every_item_is_flushed_once_with_its_key_and_gets_its_own_outcome(
    work: list[tuple[str, int]], max_items: int
) -> None:
    rec = Recorder()
    # A long wait: only size and flush_all flush, so the grouping is deterministic.
    batcher: KeyedBatcher[str, int, int] = KeyedBatcher(rec.flush, max_items=max_items, max_wait=60)
    results = asyncio.run(_submit_all(batcher, work))

    for (_, item), result in zip(work, results, strict=True):
        if item < 0:
            assert isinstance(result, ValueError)
            assert str(result) == f"bad {item}"
        else:
            assert result == item * 10
    assert all(1 <= len(items) <= max_items for _, items in rec.batches)
    for key in "abc":
        sent = [i for k, i in work if k == key]
        flushed = [i for k, items in rec.batches if k == key for i in items]
        assert flushed == sent  # each item once, in submission order, never under another key
    assert batcher.pending == 0


def test_a_group_flushes_by_itself_after_the_wait() -> None:
    rec = Recorder()

    async def go() -> list[int]:
        batcher: KeyedBatcher[str, int, int] = KeyedBatcher(rec.flush, max_items=100, max_wait=0.01)
        return list(
            await asyncio.gather(batcher.submit("a", 1), batcher.submit("a", 2), batcher.submit("b", 3))
        )

    assert asyncio.run(go()) == [10, 20, 30]
    assert sorted(rec.batches) == [("a", [1, 2]), ("b", [3])]


def test_a_full_group_flushes_at_once_and_a_failing_flush_fails_only_its_group() -> None:
    async def flush(key: str, items: list[int]) -> list[int | BaseException]:
        if key == "down":
            raise ConnectionError("database down")
        return list(items)

    async def go() -> list[object]:
        batcher: KeyedBatcher[str, int, int] = KeyedBatcher(flush, max_items=2, max_wait=60)
        # Both groups fill up, so nothing waits for the 60 s timer.
        return list(
            await asyncio.gather(
                batcher.submit("up", 1),
                batcher.submit("down", 2),
                batcher.submit("up", 3),
                batcher.submit("down", 4),
                return_exceptions=True,
            )
        )

    up1, down2, up3, down4 = asyncio.run(go())
    assert (up1, up3) == (1, 3)
    assert isinstance(down2, ConnectionError)
    assert isinstance(down4, ConnectionError)


def test_a_flush_must_answer_every_item() -> None:
    async def short(key: str, items: list[int]) -> list[int | BaseException]:
        return items[:-1]

    async def go() -> None:
        batcher: KeyedBatcher[str, int, int] = KeyedBatcher(short, max_items=2, max_wait=60)
        await asyncio.gather(batcher.submit("a", 1), batcher.submit("a", 2))

    with pytest.raises(RuntimeError, match="1 outcomes for 2 items"):
        asyncio.run(go())


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="max_items"):
        KeyedBatcher(Recorder().flush, max_items=0)
    with pytest.raises(ValueError, match="max_wait"):
        KeyedBatcher(Recorder().flush, max_wait=-1)


def test_one_flush_per_key_at_a_time_and_items_arriving_meanwhile_go_together() -> None:
    batches: list[list[int]] = []
    running = {"a": 0, "b": 0}
    peak = {"a": 0, "b": 0}

    async def go() -> list[int]:
        started, gate = asyncio.Event(), asyncio.Event()

        async def flush(key: str, items: list[int]) -> list[int | BaseException]:
            running[key] += 1
            peak[key] = max(peak[key], running[key])
            batches.append(list(items))
            if items == [1]:
                started.set()
                await gate.wait()
            running[key] -= 1
            return list(items)

        batcher: KeyedBatcher[str, int, int] = KeyedBatcher(flush, max_items=3, max_wait=0.01)
        first = asyncio.ensure_future(batcher.submit("a", 1))
        await started.wait()  # the first group of "a" is being written
        later = [asyncio.ensure_future(batcher.submit("a", i)) for i in (2, 3, 4, 5)]
        other = await batcher.submit("b", 9)  # another key is not held up by "a"
        gate.set()
        return [*await asyncio.gather(first, *later), other]

    assert asyncio.run(go()) == [1, 2, 3, 4, 5, 9]
    assert batches == [[1], [9], [2, 3, 4], [5]]
    assert peak == {"a": 1, "b": 1}
