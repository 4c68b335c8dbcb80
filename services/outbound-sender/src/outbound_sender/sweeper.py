"""Periodic outbox sweep over active tenants (covers a crash between the inbox's commit and its publish)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog

from omni_common.errors import DatabaseUnavailable
from omni_common.outbound.outbox import Begin, PublishFn, relay_outbox

log = structlog.get_logger(__name__)


async def sweep_once(
    begin: Begin,
    publish: PublishFn,
    tenants: Callable[[], Awaitable[list[uuid.UUID]]],
    *,
    older_than: timedelta,
) -> int:
    """Relay every active tenant's stale outbox rows once; one tenant's failure never stops the others.

    A database that is full or down ends the round (said once): every other tenant would wait for it
    in turn, and the next round comes soon enough.
    """
    total = 0
    pending = await tenants()
    for done, tenant_id in enumerate(pending):
        try:
            total += await relay_outbox(begin, publish, tenant_id, older_than=older_than)
        except DatabaseUnavailable as exc:
            log.warning("outbox_sweep_skipped", reason=str(exc)[:200], tenants_left=len(pending) - done)
            break
        except Exception:
            log.exception("outbox_sweep_failed", tenant_id=str(tenant_id))
    return total


async def run_sweeper(
    stop: asyncio.Event,
    sweep: Callable[[], Awaitable[int]],
    *,
    interval_s: float,
) -> None:
    """Call ``sweep`` every ``interval_s`` seconds until ``stop`` is set."""
    while not stop.is_set():
        try:
            await sweep()
        except Exception:
            log.exception("outbox_sweep_round_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
