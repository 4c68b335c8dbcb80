"""Template syncs started by the inbox (on connect, on demand, on first use), run in the background.

``POST /api/templates/sync`` answers 202 at once; the sync (``omni_common.wa_templates.sync``, which
keeps syncs of one WABA from piling up) runs here, and live inboxes hear when it is done.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog

from omni_common.crypto import KeyRing
from omni_common.wa_templates.sync import ON_DEMAND_INTERVAL, Begin, SyncOutcome, TemplateLister, sync_account

log = structlog.get_logger(__name__)

Done = Callable[[uuid.UUID, list[SyncOutcome]], Awaitable[None]]


class TemplateSyncer:
    """Runs template syncs as background tasks of the inbox process (cancelled on shutdown)."""

    def __init__(
        self, begin: Begin, graph: TemplateLister, keyring: KeyRing, *, page_size: int = 100
    ) -> None:
        self._begin = begin
        self._graph = graph
        self._keyring = keyring
        self._page_size = page_size
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_done: Done | None = None

    def start(
        self,
        tenant_id: uuid.UUID,
        account_ids: list[uuid.UUID],
        *,
        min_interval: timedelta = ON_DEMAND_INTERVAL,
    ) -> None:
        """Sync these accounts' WABAs in the background."""
        if not account_ids:
            return
        task = asyncio.create_task(self._run(tenant_id, account_ids, min_interval))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(
        self,
        tenant_id: uuid.UUID,
        account_ids: list[uuid.UUID],
        *,
        min_interval: timedelta = ON_DEMAND_INTERVAL,
    ) -> list[SyncOutcome]:
        """Sync now and answer how it went."""
        outcomes: list[SyncOutcome] = []
        seen: set[str] = set()
        for account_id in account_ids:
            outcome = await sync_account(
                self._begin,
                self._graph,
                self._keyring,
                tenant_id,
                account_id,
                min_interval=min_interval,
                page_size=self._page_size,
            )
            if outcome.waba_id not in seen:
                seen.add(outcome.waba_id)
                outcomes.append(outcome)
        return outcomes

    async def _run(self, tenant_id: uuid.UUID, account_ids: list[uuid.UUID], min_interval: timedelta) -> None:
        try:
            outcomes = await self.run(tenant_id, account_ids, min_interval=min_interval)
            if self.on_done is not None:
                await self.on_done(tenant_id, outcomes)
        except asyncio.CancelledError:
            raise
        except Exception:  # a background task: logged, the next refresh tries again
            log.exception("templates_sync_crashed", tenant_id=str(tenant_id))

    async def close(self) -> None:
        """Stop the syncs still running (the process is stopping)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
