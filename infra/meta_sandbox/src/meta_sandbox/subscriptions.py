"""``POST|GET|DELETE /{page-id|ig-id|waba-id}/subscribed_apps``: our app's webhook subscriptions.

Pages: POST needs ``subscribed_fields`` (Messenger webhook fields) and a **page** token — a user
token gets ``(#210)`` — holding ``pages_manage_metadata``; GET lists our app with its
``subscribed_fields``; DELETE unsubscribes.
https://developers.facebook.com/docs/graph-api/reference/page/subscribed_apps ,
https://developers.facebook.com/docs/messenger-platform/webhooks#connect-your-app
WABAs: POST (no body) subscribes, GET lists ``{"whatsapp_business_api_data": {"id", "link",
"name"}}``, DELETE unsubscribes; the token needs ``whatsapp_business_management`` on the WABA.
https://developers.facebook.com/docs/whatsapp/embedded-signup/webhooks ,
https://developers.facebook.com/docs/whatsapp/cloud-api/guides/set-up-webhooks#overriding-the-callback-url
Meta unsubscribes an app after about an hour of failed deliveries (Messenger webhooks page); the
sandbox does that on command: ``DELETE /_sandbox/subscriptions/{object_id}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from meta_sandbox.access import Caller, can_see_waba, identify, require_scope
from meta_sandbox.errors import MetaError
from meta_sandbox.graph import check_version, not_found, record, sandbox_state
from meta_sandbox.state import SandboxState

PAGE_FIELDS = frozenset(
    {
        "messages",
        "messaging_postbacks",
        "messaging_optins",
        "messaging_referrals",
        "messaging_handovers",
        "messaging_policy_enforcement",
        "messaging_account_linking",
        "message_deliveries",
        "message_reads",
        "message_echoes",
        "message_reactions",
        "message_edits",
        "messaging_seen",
        "standby",
        "feed",
        "inbox_labels",
    }
)


def _object_kind(state: SandboxState, caller: Caller, object_id: str) -> str:
    """``page``, ``instagram`` or ``waba`` when the caller may manage the object's subscription."""
    if can_see_waba(caller, object_id):
        return "waba"
    if caller.account is not None:
        if caller.account.account_id == object_id and caller.account.channel != "whatsapp":
            return "page" if caller.account.channel == "facebook" else "instagram"
        raise not_found(object_id, "post")
    assert caller.grant is not None
    assert caller.auth is not None
    page = state.accounts.get(("facebook", object_id))
    if page is not None:
        if not caller.is_page:
            raise MetaError(210)
        if caller.grant.page_id != object_id:
            raise not_found(object_id, "post")
        return "page"
    raise not_found(object_id, "post")


def _requested_fields(request: Request, entry: dict[str, Any]) -> list[str]:
    raw: Any = request.query_params.get("subscribed_fields")
    if raw is None and isinstance(entry["json"], dict):
        raw = entry["json"].get("subscribed_fields")
    if isinstance(raw, list):
        return [str(f) for f in raw]
    return [f.strip() for f in (raw or "").split(",") if f.strip()]


async def subscribed_apps(ver: str, object_id: str, request: Request) -> JSONResponse:
    """``POST|GET|DELETE /{ver}/{object-id}/subscribed_apps``."""
    entry = await record(request)
    check_version(ver)
    state = sandbox_state(request)
    caller = identify(request)
    kind = _object_kind(state, caller, object_id)
    if request.method != "GET":
        if kind == "waba":
            require_scope(caller, "whatsapp_business_management", object_id)
        elif kind == "page":
            require_scope(caller, "pages_manage_metadata", object_id)
    if request.method == "POST":
        fields = _requested_fields(request, entry)
        if kind == "page":
            if not fields:
                raise MetaError(100, message="(#100) The parameter subscribed_fields is required.")
            unknown = [f for f in fields if f not in PAGE_FIELDS]
            if unknown:
                allowed = ", ".join(sorted(PAGE_FIELDS))
                got = unknown[0]
                raise MetaError(
                    100, message=f'(#100) Param subscribed_fields must be one of {{{allowed}}} - got "{got}"'
                )
        state.subscriptions[object_id] = fields
        return _ok(entry, {"success": True})
    if request.method == "DELETE":
        state.subscriptions.pop(object_id, None)
        return _ok(entry, {"success": True})
    return _ok(entry, {"data": _listing(state, kind, object_id)})


def _listing(state: SandboxState, kind: str, object_id: str) -> list[dict[str, Any]]:
    if object_id not in state.subscriptions:
        return []
    cfg = state.config
    link = f"https://www.facebook.com/games/?app_id={cfg.app_id}"
    if kind == "waba":
        return [{"whatsapp_business_api_data": {"id": cfg.app_id, "link": link, "name": cfg.app_name}}]
    return [
        {
            "category": "Business",
            "link": link,
            "name": cfg.app_name,
            "id": cfg.app_id,
            "subscribed_fields": state.subscriptions[object_id],
        }
    ]


def _ok(entry: dict[str, Any], payload: dict[str, Any]) -> JSONResponse:
    entry["response_status"] = 200
    return JSONResponse(payload)
