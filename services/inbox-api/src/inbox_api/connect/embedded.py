"""Connecting a WhatsApp number picked in Embedded Signup: proven, registered, stored, subscribed.

Order, so that a refusal leaves nothing behind: the ownership proof (the number's WABA among the
token's granted targets, ``domain.ownership``), the catalog's answer on whether another restaurant
holds the number, then registration on the Cloud API with a two-step PIN (a new random one, or the
one we registered it with before), and only then the account row — the PIN sealed with the token in
its encrypted credentials (``domain.credentials``) — and the WABA's webhook subscription, read back.
The PIN is never logged, shown, or sent anywhere but Meta's register call.
"""

from __future__ import annotations

import structlog

from inbox_api.accounts.models import AccountIn
from inbox_api.accounts.service import connect
from inbox_api.auth.models import Principal
from inbox_api.connect.meta import FacebookLogin, LoginProblem, MetaRefused, subscribe_waba
from inbox_api.connect.outcome import Outcome, refusal
from inbox_api.connect.signup import Number, new_pin, register
from inbox_api.deps import InboxDeps
from omni_common.domain.ownership import TokenGrant, ownership_refusal
from omni_common.errors import AccountConflict, OmniError
from omni_common.tenancy.accounts import read_pin

log = structlog.get_logger(__name__)
IN_REVIEW = " Meta is still reviewing this number's display name: it can send messages once Meta approves it."


async def _pin_for(deps: InboxDeps, user: Principal, number: Number) -> str:
    """The PIN this restaurant registered the number with before (a reconnect), else a new one."""
    async with deps.registry.session(user.tenant_id) as session:
        kept = await read_pin(
            session,
            keyring=deps.keyring,
            tenant_id=user.tenant_id,
            channel="whatsapp",
            external_account_id=number.id,
        )
    return kept or new_pin()


async def connect_number(
    deps: InboxDeps,
    login: FacebookLogin,
    user: Principal,
    token: str,
    number: Number,
    targets: dict[str, list[str]] | None = None,
) -> Outcome:
    """Connect one number of Embedded Signup; the outcome in plain words (nothing kept on refusal).

    ``targets``: ``debug_token``'s granted targets when the caller has them (the proof is made
    again by ``connect`` with Meta when accounts are verified).
    """
    label = f"WhatsApp {number.number} ({number.name})" if number.name else f"WhatsApp {number.number}"
    if targets is not None:
        grant = TokenGrant(True, login.app_id, {k: tuple(v) for k, v in targets.items()})
        refused = ownership_refusal(
            channel="whatsapp",
            account_id=number.id,
            waba_id=number.waba_id,
            our_app_id=login.app_id,
            grant=grant,
        )
        if refused is not None:
            return Outcome(label, False, f"Not connected: {refused.reason}")
    route = await deps.catalog.resolve_account("whatsapp", number.id)
    if route is not None and route.tenant_id != user.tenant_id:
        return Outcome(label, False, f"Not connected: {refusal(AccountConflict(number.id))}")
    pin = await _pin_for(deps, user, number)
    try:
        ours = await register(login, number.id, token, pin)
    except MetaRefused as exc:
        return Outcome(label, False, f"Not connected: WhatsApp refused to register this number: {exc.reason}")
    except LoginProblem as exc:
        return Outcome(label, False, f"Not connected: {exc}")
    log.info("whatsapp_number_registered", tenant_id=str(user.tenant_id), channel="whatsapp", ours=ours)
    body = AccountIn(
        channel="whatsapp",
        external_account_id=number.id,
        token=token,
        waba_id=number.waba_id,
        display_name=number.name or None,
    )
    try:
        await connect(deps, user, body, pin=pin if ours else None)
    except OmniError as exc:
        return Outcome(label, False, f"Not connected: {refusal(exc)}")
    review = IN_REVIEW if number.in_review else ""
    try:
        listed = await subscribe_waba(login, number.waba_id, token)
    except LoginProblem as exc:
        return Outcome(label, False, f"Connected, but not subscribed to messages: {exc}{review}")
    said = "receiving messages" if listed else "Meta does not list the subscription yet"
    return Outcome(label, True, f"Connected, {said}.{review}")
