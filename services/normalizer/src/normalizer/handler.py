"""Handle one routed event: normalize it, write it into its tenant's database, report the changes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from normalizer import store
from omni_common.broker.outcomes import DeadLetter
from omni_common.channels.inbound import (
    Ignored,
    InboundMessage,
    MalformedEvent,
    MessageDeleted,
    MessageEdited,
    NormalizedEvent,
    PlatformError,
    Reaction,
    StatusUpdate,
    WatermarkUpdate,
    normalize,
)
from omni_common.contracts import RoutedEvent
from omni_common.errors import TenantNotActive, TenantNotFound

log = structlog.get_logger(__name__)

# Opens a transaction on one tenant's database (the registry's ``begin``); there is no default tenant.
TenantTransaction = Callable[[uuid.UUID], AbstractAsyncContextManager[AsyncSession]]


async def handle_routed_event(event: RoutedEvent, *, begin: TenantTransaction) -> list[store.Change]:
    """Write ``event`` into its tenant's database in one transaction; return what changed.

    Returns only after the commit, so the caller may ack. Redelivery is harmless: every write is
    keyed on the platform's ids, and a repeat changes nothing (and reports nothing).
    """
    try:
        events = normalize(event.channel, event.account_id, event.payload)
    except MalformedEvent as exc:
        raise DeadLetter("malformed", f"{exc.reason_code}: {exc.detail}") from exc

    try:
        async with begin(event.tenant_id) as session:
            account = await store.find_account(session, event.channel, event.account_id)
            if account is None:
                # The catalog routed it here but the tenant has no such account: never write.
                raise DeadLetter("account_not_in_tenant", f"{event.channel} account {event.account_id}")
            if not account.is_active or account.status == "disabled":
                raise DeadLetter(
                    "channel_disabled", f"{event.channel} account {event.account_id} is disabled"
                )
            await store.touch_account(session, account)
            changes: list[store.Change] = []
            for item in events:
                changes.extend(await _apply(session, event, account, item))
    except TenantNotFound as exc:
        raise DeadLetter("unknown_tenant", str(exc)) from exc
    except TenantNotActive as exc:
        raise DeadLetter("tenant_inactive", str(exc)) from exc
    return changes


async def _apply(
    session: AsyncSession, event: RoutedEvent, account: store.AccountRow, item: NormalizedEvent
) -> list[store.Change]:
    tenant_id, channel = event.tenant_id, event.channel
    change: store.Change | None
    match item:
        case InboundMessage():
            change = await store.store_message(
                session, tenant_id=tenant_id, channel=channel, account=account, msg=item
            )
        case Reaction():
            change = await store.store_reaction(
                session, tenant_id=tenant_id, channel=channel, account=account, reaction=item
            )
        case MessageDeleted():
            change = await store.mark_deleted(
                session, tenant_id=tenant_id, channel=channel, account=account, event=item
            )
        case MessageEdited():
            change = await store.apply_edit(session, channel=channel, event=item)
        case StatusUpdate():
            change = await store.apply_status(session, channel=channel, event=item)
            if change is None:
                log.info(
                    "status_not_applied", external_message_id=item.external_message_id, status=item.status
                )
        case WatermarkUpdate():
            return await store.apply_watermark(session, channel=channel, account=account, event=item)
        case PlatformError():
            change = await store.record_platform_error(session, account=account, event=item)
        case Ignored():
            log.debug("event_ignored", reason=item.reason)
            change = None
    return [change] if change else []
