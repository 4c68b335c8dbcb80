"""Alerts: the tenant's public push key, a user's push subscriptions, the signals switches."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.models import Principal
from inbox_api.deps import InboxDeps
from inbox_api.errors import Invalid
from inbox_api.push.endpoints import endpoint_allowed
from inbox_api.push.models import SignalsIn, SubscriptionIn
from omni_common.db.tenant_models import InboxSignals, PushSubscription
from omni_common.tenancy.push_keys import ensure_pair


async def public_key(deps: InboxDeps, user: Principal) -> str:
    """The tenant's VAPID public key (the browser's ``applicationServerKey``), made on first use."""
    async with deps.registry.begin(user.tenant_id) as session:
        pair = await ensure_pair(session, user.tenant_id, deps.keyring)
    return pair.public_key


async def subscribe(session: AsyncSession, deps: InboxDeps, user: Principal, body: SubscriptionIn) -> None:
    """Keep this browser's subscription for the caller (a browser signed in anew changes hands)."""
    if not endpoint_allowed(body.endpoint, deps.push_endpoint_hosts):
        raise Invalid("This browser's push service is not one the inbox sends alerts to.")
    values = {"user_id": user.user_id, "p256dh": body.keys.p256dh, "auth": body.keys.auth}
    await session.execute(
        insert(PushSubscription)
        .values(endpoint=body.endpoint, **values)
        .on_conflict_do_update(index_elements=["endpoint"], set_=values)
    )
    if deps.push is not None:
        deps.push.subscribed(user.tenant_id)


async def unsubscribe(session: AsyncSession, user: Principal, endpoint: str) -> bool:
    """Forget one of the caller's subscriptions; False when there was none."""
    result = await session.execute(
        delete(PushSubscription)
        .where(PushSubscription.endpoint == endpoint, PushSubscription.user_id == user.user_id)
        .returning(PushSubscription.id)
    )
    return result.first() is not None


async def subscribed(session: AsyncSession, user: Principal) -> int:
    """How many browsers or phones of the caller get alerts."""
    rows = await session.execute(select(PushSubscription.id).where(PushSubscription.user_id == user.user_id))
    return len(rows.all())


async def signals(session: AsyncSession) -> SignalsIn:
    """The tenant's switches (no row yet: both on)."""
    row = await session.get(InboxSignals, 1)
    if row is None:
        return SignalsIn(read_receipts=True, typing_indicator=True)
    return SignalsIn(read_receipts=row.read_receipts, typing_indicator=row.typing_indicator)


async def save_signals(session: AsyncSession, body: SignalsIn) -> SignalsIn:
    """Store the tenant's switches."""
    values = body.model_dump()
    await session.execute(
        insert(InboxSignals).values(id=1, **values).on_conflict_do_update(index_elements=["id"], set_=values)
    )
    return body
