"""JSON routes of alerts: the push key, this browser's subscription, the signals switches."""

from __future__ import annotations

from fastapi import APIRouter, Response

from inbox_api.auth.dependencies import CurrentUser, Deps, TenantSession, TenantTransaction
from inbox_api.push import service
from inbox_api.push.models import EndpointIn, SignalsIn, SubscriptionIn

router = APIRouter(tags=["alerts"])


@router.get("/api/push/key")
async def push_key(user: CurrentUser, deps: Deps) -> dict[str, str]:
    """The key a browser subscribes with (``applicationServerKey``, base64url)."""
    return {"public_key": await service.public_key(deps, user)}


@router.post("/api/push/subscriptions", status_code=204, responses={422: {}})
async def push_subscribe(
    body: SubscriptionIn, user: CurrentUser, deps: Deps, session: TenantTransaction
) -> Response:
    """Send alerts to this browser or phone (``PushSubscription.toJSON()``)."""
    await service.subscribe(session, deps, user, body)
    return Response(status_code=204)


@router.delete("/api/push/subscriptions", status_code=204)
async def push_unsubscribe(body: EndpointIn, user: CurrentUser, session: TenantTransaction) -> Response:
    """Stop alerts to this browser (its endpoint); nothing to forget is fine."""
    await service.unsubscribe(session, user, body.endpoint)
    return Response(status_code=204)


@router.get("/api/settings/signals")
async def get_signals(session: TenantSession) -> SignalsIn:
    """Whether WhatsApp customers see read receipts and "typing…" (both on by default)."""
    return await service.signals(session)


@router.put("/api/settings/signals", responses={403: {}})
async def put_signals(body: SignalsIn, session: TenantTransaction) -> SignalsIn:
    """Turn read receipts and "typing…" on or off for the restaurant (owners only: ``auth/roles``)."""
    return await service.save_signals(session, body)
