"""Node reads: ``GET /{ver}/{id}`` for accounts, Pages, people, WABAs, businesses, media, profiles.

What a token sees:

- a per-account token reads its own account (``me`` or its id), as before, plus media and the
  profiles of its customers;
- a user token reads ``me`` (the person), the Pages it was granted (``access_token`` gives the page
  token, ``instagram_business_account`` the linked Instagram account when that was granted too),
  any other known Page's public ``id`` and ``name`` only (a public Page is readable by anyone — which
  is why reading a Page proves nothing about owning it), its WABAs, their numbers, its businesses;
- a page token reads ``me`` = its Page.
https://developers.facebook.com/docs/graph-api/reference/page ,
https://developers.facebook.com/docs/graph-api/reference/user
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from meta_sandbox.access import Caller, can_see_page, can_see_waba, identify
from meta_sandbox.business import fields_of, page_fields, phone_fields, pick
from meta_sandbox.errors import MetaError
from meta_sandbox.grants import BUSINESS_SCOPES, IG_SCOPES, grant_debug_data
from meta_sandbox.graph import (
    apply_fault,
    check_version,
    extract_token,
    is_app_token,
    not_found,
    record,
    sandbox_state,
)
from meta_sandbox.state import Account, SandboxState
from meta_sandbox.tokens import debug_token_data


async def read_object(ver: str, object_id: str, request: Request) -> Response:
    """``GET /{ver}/{id}``."""
    entry = await record(request)
    check_version(ver)
    state = sandbox_state(request)
    caller = identify(request)
    fault = state.take_fault(method="GET", account_id=object_id, recipient=None)
    if fault is not None:
        # The channel only picks the usage header a throttling fault carries.
        fault_account = (
            caller.account or state.account_by_id(object_id) or Account("facebook", object_id, "", "")
        )
        dropped = await apply_fault(request, fault, fault_account, object_id=object_id)
        if dropped is not None:
            return dropped
    fields = fields_of(request)
    found = _shared(state, request, caller, object_id, fields)
    if found is None:
        found = (
            _own(state, caller, object_id, fields)
            if caller.account
            else _granted(state, caller, object_id, fields)
        )
    if found is None:
        raise not_found(object_id)
    entry["response_status"] = 200
    return JSONResponse(found)


def _shared(
    state: SandboxState, request: Request, caller: Caller, object_id: str, fields: list[str]
) -> dict[str, Any] | None:
    """Media objects and customer profiles, which any token of the owning account may read."""
    own = caller.account.account_id if caller.account else None
    if object_id in state.media:
        media = state.media[object_id]
        if media.account_id not in (None, own) and not _media_visible(state, caller, media.account_id):
            raise not_found(object_id)
        base = state.config.public_url or str(request.base_url).rstrip("/")
        return {
            "messaging_product": "whatsapp",
            "url": f"{base.rstrip('/')}/_media/{media.media_id}",
            "mime_type": media.mime_type,
            "sha256": media.sha256,
            "file_size": len(media.content),
            "id": media.media_id,
        }
    if object_id in state.contacts:
        contact = state.contacts[object_id]
        if contact.account_id not in (None, own):
            raise not_found(object_id)
        first, _, last = contact.name.partition(" ")
        known = {"name": contact.name, "first_name": first, "last_name": last, "username": contact.username}
        return pick(known, fields or ["name"], object_id)
    return None


def _media_visible(state: SandboxState, caller: Caller, owner_id: str) -> bool:
    owner = state.accounts.get(("whatsapp", owner_id))
    return owner is not None and caller.auth is not None and can_see_waba(caller, owner.waba_id or "")


def account_known(account: Account) -> dict[str, Any]:
    """Fields of an account's own node."""
    known: dict[str, Any] = {
        "name": account.display_name,
        "verified_name": account.display_name,
        "display_phone_number": account.display_phone_number,
        "username": account.username,
    }
    if account.channel == "whatsapp":
        known.update({k: v for k, v in phone_fields(account).items() if k != "verified_name"})
    if account.channel == "facebook" and account.instagram_id:
        known["instagram_business_account"] = {"id": account.instagram_id}
    return known


def _own(state: SandboxState, caller: Caller, object_id: str, fields: list[str]) -> dict[str, Any] | None:
    account = caller.account
    assert account is not None
    if object_id in ("me", account.account_id):
        return pick(account_known(account), fields or ["name"], account.account_id)
    return None


def _granted(state: SandboxState, caller: Caller, object_id: str, fields: list[str]) -> dict[str, Any] | None:
    grant, auth = caller.grant, caller.auth
    assert grant is not None
    assert auth is not None
    if object_id == "me" or object_id == auth.user_id:
        if grant.kind == "PAGE":
            page = state.accounts[("facebook", grant.page_id or "")]
            return pick(
                page_fields(state, caller, page, with_token=False), fields or ["name"], page.account_id
            )
        person = state.world.people.get(auth.user_id)
        name = person.name if person else "Sandbox system user"
        return pick({"name": name}, fields or ["name"], auth.system_user_id or auth.user_id)
    other_page = state.accounts.get(("facebook", object_id))
    if other_page is not None:
        page = other_page
        if can_see_page(caller, object_id):
            return pick(page_fields(state, caller, page, with_token=True), fields or ["name"], object_id)
        return pick({"name": page.display_name}, fields or ["name"], object_id)  # public fields only
    ig = state.accounts.get(("instagram", object_id))
    if ig is not None and object_id in auth.targets_of(IG_SCOPES):
        known = {"username": ig.username, "name": ig.display_name}
        return pick(known, fields or ["username"], object_id)
    phone = state.accounts.get(("whatsapp", object_id))
    if phone is not None and can_see_waba(caller, phone.waba_id or ""):
        return pick(account_known(phone), fields or ["verified_name", "display_phone_number"], object_id)
    waba = state.world.wabas.get(object_id)
    if waba is not None and can_see_waba(caller, object_id):
        known = {"name": waba.name, "currency": waba.currency, "timezone_id": waba.timezone_id}
        return pick(known, fields or ["name"], object_id)
    business = state.world.businesses.get(object_id)
    if business is not None and object_id in auth.targets_of(BUSINESS_SCOPES):
        return pick({"name": business.name}, fields or ["name"], object_id)
    return None


async def debug_token(ver: str, request: Request) -> Response:
    """``GET /{ver}/debug_token?input_token=…`` (with an app token, or a token inspecting itself)."""
    entry = await record(request)
    check_version(ver)
    if not is_app_token(request):
        identify(request, allow_expired=True)
    input_token = request.query_params.get("input_token")
    if not input_token:
        raise MetaError(100, message="(#100) The parameter input_token is required")
    state = sandbox_state(request)
    grant = state.oauth.grant(input_token)
    if grant is not None:
        cfg = state.config
        data = grant_debug_data(cfg.app_id, cfg.app_name, grant, state.oauth.authorization(grant))
    else:
        data = debug_token_data(state, input_token)
    entry["response_status"] = 200
    return JSONResponse({"data": data})


async def download_media(media_id: str, request: Request) -> Response:
    """The short-lived media URL: bytes, for a bearer token (in the header) of the owning account."""
    entry = await record(request)
    if extract_token(request)[1] not in ("header", "both"):
        raise MetaError(104)
    caller = identify(request)
    state = sandbox_state(request)
    media = state.media.get(media_id)
    own = caller.account.account_id if caller.account else None
    if media is None or (
        media.account_id not in (None, own) and not _media_visible(state, caller, media.account_id)
    ):
        raise not_found(media_id)
    entry["response_status"] = 200
    return Response(media.content, media_type=media.mime_type)
