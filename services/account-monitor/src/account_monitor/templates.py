"""The scheduled part of WhatsApp template syncs: every pass, each WABA not fetched for
``interval`` is fetched again (on connect and on demand, the inbox syncs it itself).

One sync per WABA (numbers of one WABA share its templates), with the token of one of its active
numbers; ``omni_common.wa_templates.sync`` keeps syncs from piling up against Meta's 5,000
template-management requests an hour per WABA.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog

from omni_common.crypto import KeyRing
from omni_common.errors import DatabaseUnavailable
from omni_common.wa_templates.store import whatsapp_accounts
from omni_common.wa_templates.sync import Begin, TemplateLister, sync_account

log = structlog.get_logger(__name__)


async def sync_templates(
    begin: Begin,
    graph: TemplateLister,
    keyring: KeyRing,
    tenants: Callable[[], Awaitable[list[uuid.UUID]]],
    *,
    interval: timedelta,
) -> Counter[str]:
    """Sync every stale WABA of every tenant; outcomes counted (``synced``, ``skipped``, ``failed``)."""
    outcomes: Counter[str] = Counter()
    for tenant_id in await tenants():
        try:
            async with begin(tenant_id) as session:
                accounts = [
                    (a.id, a.waba_id)
                    for a in await whatsapp_accounts(session)
                    if a.is_active and a.status == "active"
                ]
        except DatabaseUnavailable:
            outcomes["db_unavailable"] += 1
            continue
        seen: set[str | None] = set()
        for account_id, waba_id in accounts:
            if waba_id in seen:
                continue
            seen.add(waba_id)
            try:
                outcome = await sync_account(
                    begin, graph, keyring, tenant_id, account_id, min_interval=interval
                )
            except DatabaseUnavailable:
                outcomes["db_unavailable"] += 1
                break
            except Exception:  # one broken WABA must not stop the others
                log.exception("templates_sync_crashed", tenant_id=str(tenant_id), waba_id=waba_id)
                outcomes["error"] += 1
                continue
            outcomes[f"templates_{outcome.state}"] += 1
    return outcomes
