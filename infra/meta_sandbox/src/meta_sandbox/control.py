"""``/_sandbox`` control endpoints for tests and demos (unauthenticated: bind to 127.0.0.1 only).

Accounts and their tokens, contacts, media, faults, recorded requests/sends/webhooks, configuration,
the customer-service window (``POST /_sandbox/window``: when a customer last wrote), reset, and
simulated inbound messages. Templates, test people, OAuth and subscriptions: ``control_meta.py``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from meta_sandbox.grants import public_grant
from meta_sandbox.state import (
    Account,
    Channel,
    Contact,
    Fault,
    FaultMode,
    Media,
    SandboxState,
    StatusOrder,
    WindowFailure,
    new_id,
)
from meta_sandbox.webhooks import WebhookEmitter, inbound_payload

router = APIRouter(prefix="/_sandbox")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AccountIn(_In):
    channel: Channel
    account_id: str
    token: str
    display_name: str
    token_expires_at: int | None = None
    waba_id: str | None = None
    display_phone_number: str | None = None
    username: str | None = None
    scopes: list[str] = Field(default_factory=list)
    quality_rating: str = "GREEN"
    code_verification_status: str = "VERIFIED"
    name_status: str = "APPROVED"
    registered: bool = True
    instagram_id: str | None = None  # a Page's linked Instagram account
    page_id: str | None = None  # an Instagram account's Page


class TokenStateIn(_In):
    """Change what Meta says about a token (debug_token and every call with it).

    Name one of: ``account_id`` (its registered token), ``token`` (one issued by the OAuth flow), or
    ``user_id`` (every token issued from the person's authorizations; ``valid: false`` there is the
    person removing the app).
    """

    account_id: str | None = None
    token: str | None = None
    user_id: str | None = None
    expires_in_s: float | None = None  # seconds from now; wins over expires_at
    expires_at: int | None = None  # unix seconds; 0 = never expires
    valid: bool | None = None  # False: revoked (190/460); True: valid again
    exchangeable: bool | None = None  # OAuth tokens: False makes fb_exchange_token refuse them


class ContactIn(_In):
    channel: Channel
    user_id: str
    name: str
    account_id: str | None = None
    username: str | None = None


class MediaIn(_In):
    content_base64: str
    mime_type: str = "image/jpeg"
    media_id: str | None = None
    account_id: str | None = None


class FaultMatch(_In):
    account_id: str | None = None
    recipient: str | None = None
    method: str | None = None
    signals: bool = False  # hit WhatsApp read receipts / typing indicators (only those)


class FaultIn(_In):
    match: FaultMatch = Field(default_factory=FaultMatch)
    error_code: int = 1
    error_subcode: int | None = None
    http_status: int | None = None
    count: int = 1
    mode: FaultMode = "error"
    message: str | None = None
    regain_minutes: int = 1
    headers: dict[str, str] = Field(default_factory=dict)


class ConfigIn(_In):
    ingress_url: str | None = None
    app_secret: str | None = None
    public_url: str | None = None
    status_delay_s: float | None = None
    status_order: StatusOrder | None = None
    duplicate_statuses: bool | None = None
    emit_statuses: bool | None = None
    emit_echoes: bool | None = None
    webhook_attempts: int | None = None
    timeout_fault_s: float | None = None
    window_hours: float | None = None
    wa_window_failure: WindowFailure | None = None
    human_agent_permission: bool | None = None
    app_id: str | None = None
    app_name: str | None = None
    oauth_code_ttl_s: float | None = None
    short_token_ttl_s: int | None = None
    long_token_ttl_s: int | None = None
    oauth_redirect_uris: list[str] | None = None
    require_subscription: bool | None = None


class WindowIn(_In):
    account_id: str
    user_id: str
    last_inbound_at: float | None = None  # unix seconds; default now


class InboundIn(_In):
    channel: Channel
    account_id: str
    sender: str = Field(alias="from")
    text: str
    name: str | None = None
    message_id: str | None = None


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def _public_account(account: Account) -> dict[str, Any]:
    data = dataclasses.asdict(account)
    data.pop("token")  # control answers are shown in browsers and logs
    data["pin_set"] = data.pop("pin") is not None  # whether /register set a two-step PIN, never which
    return data


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness of the sandbox."""
    return {"status": "ok"}


@router.post("/accounts", status_code=201)
async def add_account(body: AccountIn, request: Request) -> dict[str, Any]:
    """Register (or replace) an account and its token."""
    account = Account(**body.model_dump())
    if account.channel == "whatsapp" and not account.display_phone_number:
        account.display_phone_number = "1555" + "".join(c for c in account.account_id if c.isdigit())[-7:]
    if account.channel == "instagram" and not account.username:
        account.username = account.display_name.lower().replace(" ", "_")
    _state(request).accounts[(account.channel, account.account_id)] = account
    return _public_account(account)


@router.get("/accounts")
async def list_accounts(request: Request) -> list[dict[str, Any]]:
    """Registered accounts, tokens left out."""
    return [_public_account(a) for a in _state(request).accounts.values()]


@router.post("/tokens")
async def set_token_state(body: TokenStateIn, request: Request) -> Any:
    """Make a token expire at a time (e.g. in 3 days, or already) or become invalid."""
    state = _state(request)
    change_expiry = body.expires_in_s is not None or body.expires_at is not None
    if body.expires_in_s is not None:
        expiry: int | None = int(time.time() + body.expires_in_s)
    else:
        expiry = body.expires_at or None  # 0: never expires
    if body.account_id is not None:
        account = state.account_by_id(body.account_id)
        if account is None:
            raise HTTPException(404, "unknown account")
        if change_expiry:
            account.token_expires_at = expiry
        if body.valid is not None:
            account.revoked = not body.valid
        return _public_account(account)
    if body.token is not None:
        grant = state.oauth.grant(body.token)
        if grant is None:
            raise HTTPException(404, "unknown token")
        grants = [grant]
    elif body.user_id is not None:
        auths = {a.auth_id: a for a in state.oauth.of_user(body.user_id)}
        grants = [g for g in state.oauth.grants.values() if g.auth_id in auths]
        if body.valid is not None:
            for auth in auths.values():
                auth.revoked = not body.valid
    else:
        raise HTTPException(422, "name account_id, token or user_id")
    for grant in grants:
        if change_expiry:
            grant.expires_at = expiry
        if body.valid is not None and body.token is not None:
            grant.revoked = not body.valid
        if body.exchangeable is not None:
            grant.exchangeable = body.exchangeable
    return [public_grant(g, state.oauth.authorization(g)) for g in grants]


@router.post("/contacts", status_code=201)
async def add_contact(body: ContactIn, request: Request) -> dict[str, Any]:
    """Register a Messenger/IG user profile."""
    _state(request).contacts[body.user_id] = Contact(**body.model_dump())
    return body.model_dump()


@router.post("/media", status_code=201)
async def add_media(body: MediaIn, request: Request) -> dict[str, Any]:
    """Register media bytes under an id (generated when not given)."""
    content = base64.b64decode(body.content_base64)
    media_id = body.media_id or new_id("")
    media = Media(media_id, content, body.mime_type, hashlib.sha256(content).hexdigest(), body.account_id)
    _state(request).media[media_id] = media
    return {"id": media_id, "sha256": media.sha256, "file_size": len(content)}


@router.post("/faults", status_code=201)
async def add_fault(body: FaultIn, request: Request) -> dict[str, Any]:
    """Make the next ``count`` matching Graph requests fail as described."""
    data = body.model_dump(exclude={"match"})
    fault = Fault(fault_id=new_id("fault-"), **data, **body.match.model_dump())
    _state(request).faults.append(fault)
    return {"id": fault.fault_id}


@router.get("/faults")
async def list_faults(request: Request) -> list[dict[str, Any]]:
    """Injected faults with their use counts."""
    return [dataclasses.asdict(f) for f in _state(request).faults]


@router.delete("/faults", status_code=204)
async def clear_faults(request: Request) -> None:
    """Remove every fault."""
    _state(request).faults.clear()


@router.get("/requests")
async def list_requests(request: Request, path_contains: str | None = None) -> list[dict[str, Any]]:
    """Recorded Graph requests, oldest first (optionally only paths containing a string)."""
    entries = _state(request).requests
    return [e for e in entries if path_contains is None or path_contains in e["path"]]


@router.delete("/requests", status_code=204)
async def clear_requests(request: Request) -> None:
    """Forget recorded requests."""
    _state(request).requests.clear()


@router.get("/signals")
async def list_signals(request: Request) -> list[dict[str, Any]]:
    """WhatsApp read receipts and typing indicators received (``account_id``, ``message_id``,
    ``typing``, ``at``), oldest first."""
    return _state(request).signals


@router.get("/sent")
async def list_sent(request: Request) -> dict[str, dict[str, Any]]:
    """Messages accepted so far, by message id."""
    return _state(request).sent


@router.get("/webhooks")
async def list_webhooks(request: Request) -> list[dict[str, Any]]:
    """Webhooks emitted so far with their outcome."""
    return _state(request).webhooks


@router.delete("/webhooks", status_code=204)
async def clear_webhooks(request: Request) -> None:
    """Forget emitted webhooks."""
    _state(request).webhooks.clear()


@router.get("/config")
async def get_config(request: Request) -> dict[str, Any]:
    """Current configuration (app secret masked)."""
    data = dataclasses.asdict(_state(request).config)
    data["app_secret"] = "[set]" if data["app_secret"] else None
    return data


@router.post("/config")
async def set_config(body: ConfigIn, request: Request) -> dict[str, Any]:
    """Change webhook behaviour at run time (only the fields given)."""
    config = _state(request).config
    for name, value in body.model_dump(exclude_unset=True).items():
        setattr(config, name, value)
    return await get_config(request)


@router.post("/window", status_code=204)
async def set_window(body: WindowIn, request: Request) -> None:
    """Record when a user last wrote to an account (opens the customer-service window)."""
    at = body.last_inbound_at if body.last_inbound_at is not None else time.time()
    _state(request).last_inbound[(body.account_id, body.user_id.removeprefix("+"))] = at


@router.post("/reset", status_code=204)
async def reset(request: Request) -> None:
    """Forget all accounts, media, faults, records; keep the configuration."""
    _state(request).reset()


@router.post("/simulate/inbound")
async def simulate_inbound(body: InboundIn, request: Request) -> dict[str, Any]:
    """POST a signed inbound text webhook to the ingress and report its answer."""
    state = _state(request)
    emitter: WebhookEmitter = request.app.state.emitter
    account = state.accounts.get((body.channel, body.account_id))
    if account is None:
        raise HTTPException(404, "unknown account")
    if not emitter.enabled:
        raise HTTPException(409, "no ingress_url/app_secret configured")
    if body.name and body.channel != "whatsapp":
        state.contacts[body.sender] = Contact(body.channel, body.sender, body.name, body.account_id)
    state.last_inbound[(body.account_id, body.sender.removeprefix("+"))] = time.time()
    message_id, payload = inbound_payload(
        account, body.sender, body.text, name=body.name, message_id=body.message_id
    )
    status = await emitter.deliver(body.channel, payload)
    return {"message_id": message_id, "status_code": status, "payload": payload}
