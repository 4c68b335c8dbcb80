"""Keep a WABA's templates in step with Meta: fetch every page, replace the stored list, tell owners.

Run on connect and on demand by the inbox (``POST /api/templates/sync``, the picker's Refresh) and
every few hours by the account-monitor. ``store.claim_sync`` keeps them from piling up: at most one
sync per WABA at a time, none within ``min_interval`` of the last, so a WABA stays far below Meta's
5,000 template-management requests an hour (a sync costs one request per 100 templates).
A template the sync finds stopped (rejected, paused, disabled) that was not already gets the owner's
notice, as the status webhook would have given (webhooks can be missed); one approved again has its
notices resolved.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from omni_common.crypto import KeyRing
from omni_common.db.tenant_models import SocialAccount
from omni_common.errors import DecryptionError
from omni_common.graph import GraphError, plain_reason
from omni_common.tenancy.accounts import AccountNotFound, read_token
from omni_common.wa_templates.model import TemplateDef, parse_template
from omni_common.wa_templates.notices import STOPPED, status_notice
from omni_common.wa_templates.store import (
    add_notice,
    claim_sync,
    finish_sync,
    replace_templates,
    resolve_notices,
    statuses_of,
)

log = structlog.get_logger(__name__)

Begin = Callable[[uuid.UUID], AbstractAsyncContextManager[AsyncSession]]
ON_DEMAND_INTERVAL = timedelta(seconds=20)
SCHEDULED_INTERVAL = timedelta(hours=6)
# A sync that started this long ago and never finished (a crash) no longer blocks the next one.
RUNNING_FOR = timedelta(minutes=5)


class TemplateLister(Protocol):
    """The Graph API call a sync needs (``GraphClient.list_templates``)."""

    async def list_templates(self, waba_id: str, token: str, *, page_size: int = ...) -> list[dict[str, Any]]:
        """Every template of the WABA, all pages."""
        ...


@dataclass(frozen=True)
class SyncOutcome:
    """How one WABA's sync went: ``skipped`` (too soon), ``synced`` (with the count) or ``failed``."""

    waba_id: str
    state: str
    count: int = 0
    error: str | None = None


async def sync_account(
    begin: Begin,
    graph: TemplateLister,
    keyring: KeyRing,
    tenant_id: uuid.UUID,
    account_id: uuid.UUID,
    *,
    min_interval: timedelta = ON_DEMAND_INTERVAL,
    page_size: int = 100,
    now: datetime | None = None,
) -> SyncOutcome:
    """Sync the templates of one connected WhatsApp number's WABA (with that number's token)."""
    now = now or datetime.now(UTC)
    async with begin(tenant_id) as session:
        account = await session.get(SocialAccount, account_id)
        if account is None or account.platform != "whatsapp" or not account.waba_id:
            return SyncOutcome(
                "", "skipped", error="not a WhatsApp number with a WhatsApp Business Account id"
            )
        waba_id = account.waba_id
        if not await claim_sync(session, waba_id, now, min_interval=min_interval, running_for=RUNNING_FOR):
            return SyncOutcome(waba_id, "skipped")
        try:
            token = await read_token(session, keyring=keyring, tenant_id=tenant_id, account_id=account_id)
        except (DecryptionError, AccountNotFound):
            token = None
    bound = log.bind(tenant_id=str(tenant_id), waba_id=waba_id)
    if token is None:
        return await _failed(
            begin, tenant_id, waba_id, "the account's token cannot be read — reconnect it", bound
        )
    try:
        listed = await graph.list_templates(waba_id, token, page_size=page_size)
    except GraphError as exc:
        return await _failed(begin, tenant_id, waba_id, plain_reason(exc), bound)
    templates = [t for t in (parse_template(item) for item in listed) if t is not None]
    async with begin(tenant_id) as session:
        before = await statuses_of(session, waba_id)
        count = await replace_templates(session, waba_id, templates, now)
        await _tell_owner(session, account_id, templates, before, now)
        await finish_sync(session, waba_id, datetime.now(UTC), count=count, error=None)
    bound.info("templates_synced", count=count, pages_limit=page_size)
    return SyncOutcome(waba_id, "synced", count=count)


async def _tell_owner(
    session: AsyncSession,
    account_id: uuid.UUID,
    templates: list[TemplateDef],
    before: dict[tuple[str, str], str],
    now: datetime,
) -> None:
    for t in templates:
        previous = before.get((t.name, t.language))
        if previous is None or previous == t.status:
            continue
        if t.status in STOPPED:
            notice = status_notice(t.name, t.language, t.status, t.reason)
            if notice is not None:
                await add_notice(session, notice, account_id)
        elif t.status == "APPROVED":
            await resolve_notices(session, t.name, t.language, now)


async def _failed(
    begin: Begin, tenant_id: uuid.UUID, waba_id: str, why: str, bound: structlog.BoundLogger
) -> SyncOutcome:
    bound.warning("templates_sync_failed", reason=why)
    async with begin(tenant_id) as session:
        await finish_sync(session, waba_id, datetime.now(UTC), count=0, error=why)
    return SyncOutcome(waba_id, "failed", error=why)
