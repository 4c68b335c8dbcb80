"""Group the hot tenant-database writes of concurrent sends into one statement per tenant.

Why: each write holds one of the tenant's few pooled connections for a statement's round trip plus
the event-loop turns around it. On a loaded machine that is tens of milliseconds, so one statement per
send queued the sends behind the pool (seconds per claim at a few hundred sends in flight). Here, while
a tenant's statement runs, the next writes of that tenant gather and go together in the following one
(group commit): a tenant uses one connection per kind of write and the throughput no longer depends
on the round trip.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741 - item
R = TypeVar("R")  # result

RunBatch = Callable[[uuid.UUID, list[I]], Awaitable[list[R]]]


@dataclass
class _Lane(Generic[I, R]):
    pending: list[tuple[I, asyncio.Future[R]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class TenantBatcher(Generic[I, R]):
    """``await submit(tenant, item)`` -> the item's result from ``run(tenant, items)`` (same order).

    At most one batch per tenant runs at a time; a failed batch fails every item in it.
    """

    def __init__(self, run: RunBatch[I, R], *, max_batch: int = 200) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run = run
        self._max = max_batch
        self._lanes: dict[uuid.UUID, _Lane[I, R]] = {}

    async def submit(self, tenant_id: uuid.UUID, item: I) -> R:
        lane = self._lanes.setdefault(tenant_id, _Lane())
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        lane.pending.append((item, future))
        if lane.task is None:
            lane.task = asyncio.create_task(self._drain(tenant_id, lane))
        return await future

    async def _drain(self, tenant_id: uuid.UUID, lane: _Lane[I, R]) -> None:
        try:
            while lane.pending:
                batch, lane.pending = lane.pending[: self._max], lane.pending[self._max :]
                try:
                    results = await self._run(tenant_id, [item for item, _ in batch])
                    if len(results) != len(batch):
                        raise RuntimeError(f"batch of {len(batch)} gave {len(results)} results")
                except BaseException as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            lane.task = None
            if not lane.pending:
                self._lanes.pop(tenant_id, None)
