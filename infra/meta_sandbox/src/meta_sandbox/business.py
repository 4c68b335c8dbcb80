"""Edges a connect flow walks with the person's token: Pages, businesses, WABAs, numbers, register.

- ``GET /me/accounts?fields=id,name,access_token,tasks,instagram_business_account``: the Pages the
  person granted (needs ``pages_show_list``), each with a page token derived from the user token.
  https://developers.facebook.com/docs/graph-api/reference/user/accounts
- ``GET /me/businesses`` (``business_management``) and
  ``GET /{business-id}/owned_whatsapp_business_accounts`` / ``client_whatsapp_business_accounts``:
  the WABAs of a business portfolio, filtered to those the person shared.
  https://developers.facebook.com/docs/graph-api/reference/business/owned_whatsapp_business_accounts
  (the other documented route to the WABA ids is ``debug_token``'s ``granular_scopes`` target ids,
  which Embedded Signup's docs recommend when the session-info message is not used.)
- ``GET /{waba-id}/phone_numbers``: ``id``, ``display_phone_number``, ``verified_name``,
  ``quality_rating`` by default; ``code_verification_status``, ``name_status``, ``status`` on request.
  https://developers.facebook.com/docs/whatsapp/business-management-api/manage-phone-numbers
- ``POST /{phone-number-id}/register`` ``{"messaging_product": "whatsapp", "pin": "<6 digits>"}``
  and ``POST /{phone-number-id}/deregister``; a number that has a PIN refuses another one with 133005.
  https://developers.facebook.com/docs/whatsapp/cloud-api/reference/registration
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from meta_sandbox.access import Caller, acting_account, can_see_waba, identify, require_scope
from meta_sandbox.errors import MetaError
from meta_sandbox.grants import BUSINESS_SCOPES, IG_SCOPES, WABA_SCOPES
from meta_sandbox.graph import check_version, not_found, record, sandbox_state
from meta_sandbox.state import Account, SandboxState

PAGE_FIELDS = ("access_token", "category", "name", "id", "tasks")
PAGE_TASKS = ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"]
PHONE_DEFAULT_FIELDS = (
    "verified_name",
    "code_verification_status",
    "display_phone_number",
    "quality_rating",
    "id",
)
_PHONE_FIELDS = frozenset({*PHONE_DEFAULT_FIELDS, "name_status", "status", "platform_type", "throughput"})


def fields_of(request: Request) -> list[str]:
    """The ``fields`` query parameter as a list."""
    return [f.strip() for f in request.query_params.get("fields", "").split(",") if f.strip()]


def pick(known: dict[str, Any], fields: list[str] | tuple[str, ...], object_id: str) -> dict[str, Any]:
    """Graph returns the requested fields that have a value, plus ``id``."""
    picked = {f: known[f] for f in fields if f != "id" and known.get(f) is not None}
    return {**picked, "id": object_id}


def _user_caller(request: Request, object_id: str) -> Caller:
    """A user (or system-user) token calling an edge of ``me``."""
    caller = identify(request)
    if caller.auth is None or caller.is_page or object_id not in ("me", caller.auth.user_id):
        raise not_found(object_id)
    return caller


def page_fields(state: SandboxState, caller: Caller, page: Account, *, with_token: bool) -> dict[str, Any]:
    """Everything the Page node can show this caller."""
    known: dict[str, Any] = {"name": page.display_name, "category": "Restaurant", "tasks": PAGE_TASKS}
    if (caller.auth is not None and page.instagram_id in caller.auth.targets_of(IG_SCOPES)) or (
        caller.account is not None and page.instagram_id
    ):
        known["instagram_business_account"] = {"id": page.instagram_id}
    if with_token and caller.grant is not None and caller.grant.kind == "USER":
        known["access_token"] = state.oauth.page_token(caller.grant, page.account_id).token
    return known


async def me_accounts(ver: str, object_id: str, request: Request) -> JSONResponse:
    """``GET /{ver}/me/accounts``: granted Pages with their page tokens."""
    entry = await record(request)
    check_version(ver)
    state = sandbox_state(request)
    caller = _user_caller(request, object_id)
    assert caller.auth is not None
    page_ids = caller.auth.targets_of(frozenset({"pages_show_list"}))  # the edge needs pages_show_list
    fields = fields_of(request) or list(PAGE_FIELDS)
    data = []
    for page_id in page_ids:
        page = state.accounts.get(("facebook", page_id))
        if page is not None:
            data.append(pick(page_fields(state, caller, page, with_token=True), fields, page_id))
    entry["response_status"] = 200
    return JSONResponse({"data": data, "paging": _cursors(data)})


async def me_businesses(ver: str, object_id: str, request: Request) -> JSONResponse:
    """``GET /{ver}/me/businesses``: the businesses the person shared."""
    entry = await record(request)
    check_version(ver)
    state = sandbox_state(request)
    caller = _user_caller(request, object_id)
    assert caller.auth is not None
    data = [
        pick({"name": state.world.businesses[b].name}, fields_of(request) or ["name", "id"], b)
        for b in caller.auth.targets_of(BUSINESS_SCOPES)
        if b in state.world.businesses
    ]
    entry["response_status"] = 200
    return JSONResponse({"data": data, "paging": _cursors(data)})


async def business_wabas(ver: str, object_id: str, request: Request) -> JSONResponse:
    """``GET /{ver}/{business-id}/owned_whatsapp_business_accounts`` (and ``client_…``: none here)."""
    entry = await record(request)
    check_version(ver)
    state = sandbox_state(request)
    caller = identify(request)
    business = state.world.businesses.get(object_id)
    if business is None or caller.auth is None or caller.is_page:
        raise not_found(object_id)
    shared = caller.auth.targets_of(WABA_SCOPES)
    if object_id not in caller.auth.targets_of(BUSINESS_SCOPES) and not set(shared) & set(business.waba_ids):
        raise not_found(object_id)
    owned = request.url.path.endswith("/owned_whatsapp_business_accounts")
    fields = fields_of(request) or ["id", "name", "currency", "timezone_id"]
    data = []
    for waba_id in business.waba_ids if owned else []:
        if waba_id in shared:
            waba = state.world.wabas[waba_id]
            known = {"name": waba.name, "currency": waba.currency, "timezone_id": waba.timezone_id}
            data.append(pick(known, fields, waba_id))
    entry["response_status"] = 200
    return JSONResponse({"data": data, "paging": _cursors(data)})


def phone_fields(account: Account) -> dict[str, Any]:
    """A WhatsApp number as ``/phone_numbers`` and ``GET /{phone-number-id}`` show it."""
    return {
        "verified_name": account.display_name,
        "code_verification_status": account.code_verification_status,
        "display_phone_number": account.display_phone_number,
        "quality_rating": account.quality_rating,
        "name_status": account.name_status,
        "status": "CONNECTED" if account.registered else "PENDING",
        "platform_type": "CLOUD_API" if account.registered else "NOT_APPLICABLE",
        "throughput": {"level": "STANDARD"},
    }


async def waba_phone_numbers(ver: str, object_id: str, request: Request) -> JSONResponse:
    """``GET /{ver}/{waba-id}/phone_numbers``."""
    entry = await record(request)
    check_version(ver)
    state = sandbox_state(request)
    caller = identify(request)
    if not can_see_waba(caller, object_id):
        raise not_found(object_id)
    fields = fields_of(request) or list(PHONE_DEFAULT_FIELDS)
    unknown = [f for f in fields if f not in _PHONE_FIELDS]
    if unknown:
        raise MetaError(
            100,
            message=f"(#100) Tried accessing nonexisting field ({unknown[0]}) on node type "
            "(WhatsAppBusinessPhoneNumber)",
        )
    numbers = [
        a
        for a in state.accounts.values()
        if a.channel == "whatsapp" and (a.waba_id or f"waba-{a.account_id}") == object_id
    ]
    data = [pick(phone_fields(a), fields, a.account_id) for a in numbers]
    entry["response_status"] = 200
    return JSONResponse({"data": data, "paging": _cursors(data)})


async def register_number(ver: str, object_id: str, request: Request) -> JSONResponse:
    """``POST /{ver}/{phone-number-id}/register`` and ``…/deregister``."""
    entry = await record(request)
    check_version(ver)
    state = sandbox_state(request)
    caller = identify(request)
    account = acting_account(state, caller, object_id)
    if account.channel != "whatsapp":
        raise not_found(object_id, "post")
    require_scope(caller, "whatsapp_business_management", account.waba_id or f"waba-{account.account_id}")
    if request.url.path.endswith("/deregister"):
        account.registered = False
        entry["response_status"] = 200
        return JSONResponse({"success": True})
    body = entry["json"] if isinstance(entry["json"], dict) else dict(await request.form())
    if body.get("messaging_product") != "whatsapp":
        raise MetaError(100, message="(#100) The parameter messaging_product is required.", whatsapp=True)
    pin = body.get("pin")
    if not isinstance(pin, str) or len(pin) != 6 or not pin.isdigit():
        raise MetaError(100, message="(#100) Param pin must be a 6-digit number.", whatsapp=True)
    if account.code_verification_status != "VERIFIED":
        error = MetaError(100, message="(#100) Invalid parameter", whatsapp=True)
        error.body["error"]["error_data"]["details"] = (
            "The phone number must be verified before it is registered."
        )
        raise error
    if account.pin is not None and account.pin != pin:
        raise MetaError(133005, whatsapp=True)
    account.pin, account.registered = pin, True
    entry["response_status"] = 200
    return JSONResponse({"success": True})


def _cursors(data: list[dict[str, Any]]) -> dict[str, Any]:
    """Graph's paging object for a list that fits on one page (no ``next``)."""
    if not data:
        return {"cursors": {}}

    def enc(item: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(str(item["id"]).encode()).decode().rstrip("=")

    return {"cursors": {"before": enc(data[0]), "after": enc(data[-1])}}
