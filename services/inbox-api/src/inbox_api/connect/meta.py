"""Meta's side of "Continue with Facebook": the dialog URL, the code and long-lived token exchanges,
``debug_token``, what the person may connect, and webhook subscriptions. Plain logic, no FastAPI.

https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow
https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from inbox_api.connect.store import ConnectStore

# PAGE_FIELDS' home is the shared rule (the account-monitor re-subscribes too); re-exported here.
from omni_common.domain.subscriptions import PAGE_FIELDS as PAGE_FIELDS
from omni_common.domain.subscriptions import page_fields, waba_subscribed

# What each channel asks Meta for (issue 20); pages_show_list lets /me/accounts list the Pages.
SCOPES: dict[str, tuple[str, ...]] = {
    "facebook": ("pages_show_list", "pages_messaging", "pages_manage_metadata"),
    "instagram": (
        "pages_show_list",
        "pages_manage_metadata",
        "instagram_basic",
        "instagram_manage_messages",
    ),
    "whatsapp": ("whatsapp_business_management", "whatsapp_business_messaging", "business_management"),
}
CALLBACK_PATH = "/connect/facebook/callback"
# WhatsApp Embedded Signup's ``extras`` as Meta documents them for session info version 3 (the window
# message with the chosen WABA and number). https://developers.facebook.com/docs/whatsapp/embedded-signup/implementation
ES_EXTRAS = {"setup": {}, "featureType": "", "sessionInfoVersion": "3"}


class LoginProblem(Exception):
    """Something the owner must be told in plain words (the sentence is the message)."""


class MetaRefused(LoginProblem):
    """Meta answered an error: its code, and its reason for people (``error_user_msg`` or details)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"Meta refused: {reason or 'no reason given'} (code {code}).")
        self.code = code
        self.reason = reason or "no reason given"


@dataclass
class FacebookLogin:
    """The app's Meta login settings and its collaborators (built once in ``main``)."""

    app_id: str
    app_secret: str
    dialog_url: str
    public_url: str
    graph_url: str
    http: httpx.AsyncClient
    es_config_id: str | None = None  # OMNI_META_ES_CONFIG_ID: WhatsApp connects by Embedded Signup
    store: ConnectStore = field(default_factory=ConnectStore)

    @property
    def redirect_uri(self) -> str:
        return self.public_url.rstrip("/") + CALLBACK_PATH


def parse_channels(raw: str) -> tuple[str, ...]:
    """The asked channels, known ones only, in a fixed order; all three when none is named."""
    asked = {c.strip() for c in raw.split(",") if c.strip()}
    chosen = tuple(c for c in SCOPES if c in asked)
    return chosen or tuple(SCOPES)


def scopes_for(channels: tuple[str, ...]) -> list[str]:
    seen: dict[str, None] = {}
    for channel in channels:
        seen.update(dict.fromkeys(SCOPES[channel]))
    return list(seen)


def embedded(login: FacebookLogin, channels: tuple[str, ...]) -> bool:
    """Whether this login is WhatsApp's Embedded Signup (configured, and WhatsApp alone asked)."""
    return bool(login.es_config_id) and channels == ("whatsapp",)


def dialog_url(login: FacebookLogin, state: str, channels: tuple[str, ...]) -> str:
    if embedded(login, channels):
        # The configuration names the permissions (no scope); the code comes back like any login's.
        es_query = {
            "client_id": login.app_id,
            "redirect_uri": login.redirect_uri,
            "state": state,
            "response_type": "code",
            "override_default_response_type": "true",
            "config_id": login.es_config_id or "",
            "extras": json.dumps(ES_EXTRAS, separators=(",", ":")),
        }
        return f"{login.dialog_url}?{urlencode(es_query)}"
    query = {
        "client_id": login.app_id,
        "redirect_uri": login.redirect_uri,
        "state": state,
        "response_type": "code",
        "scope": ",".join(scopes_for(channels)),
        "return_scopes": "true",
    }
    return f"{login.dialog_url}?{urlencode(query)}"


def _meta_sentence(body: dict[str, Any]) -> tuple[int | None, int | None, str]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None, "Meta gave no reason"
    data = error.get("error_data")
    data = data if isinstance(data, dict) else {}
    # WhatsApp's refusals say what is wrong in error_data.details; error_user_msg is meant for people
    reason = error.get("error_user_msg") or data.get("details") or error.get("message") or ""
    return error.get("code"), error.get("error_subcode"), str(reason)


async def graph_call(
    login: FacebookLogin, method: str, path: str, json_body: dict[str, Any] | None = None, **params: Any
) -> dict[str, Any]:
    try:
        response = await login.http.request(
            method, f"{login.graph_url}/{path}", params=params, json=json_body
        )
    except httpx.HTTPError as exc:
        raise LoginProblem("Meta could not be reached; try again in a minute.") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        code, subcode, message = _meta_sentence(body)
        if subcode == 36007:
            raise LoginProblem("The Facebook sign-in took too long and expired; start again.")
        if subcode == 36009:
            raise LoginProblem("This Facebook sign-in was already used; start again.")
        raise MetaRefused(code, message)
    return body if isinstance(body, dict) else {}


async def exchange_code(login: FacebookLogin, code: str) -> str:
    """The code for a short-lived user token, then that for a long-lived one (~60 days)."""
    short = await graph_call(
        login,
        "GET",
        "oauth/access_token",
        client_id=login.app_id,
        client_secret=login.app_secret,
        redirect_uri=login.redirect_uri,
        code=code,
    )
    token = str(short.get("access_token") or "")
    if not token:
        raise LoginProblem("Meta gave no token for this sign-in; start again.")
    if "expires_in" not in short:  # a system-user token (Embedded Signup): it does not expire
        return token
    long = await graph_call(
        login,
        "GET",
        "oauth/access_token",
        grant_type="fb_exchange_token",
        client_id=login.app_id,
        client_secret=login.app_secret,
        fb_exchange_token=token,
    )
    return str(long.get("access_token") or token)


@dataclass(frozen=True)
class Granted:
    """What ``debug_token`` says the person granted our app."""

    scopes: list[str]
    targets: dict[str, list[str]]  # scope -> target ids (granular_scopes)


async def inspect(login: FacebookLogin, token: str) -> Granted:
    """``debug_token``: refuse a token of another app or an invalid one."""
    body = await graph_call(
        login,
        "GET",
        "debug_token",
        input_token=token,
        access_token=f"{login.app_id}|{login.app_secret}",
    )
    data = body.get("data") or {}
    if str(data.get("app_id")) != login.app_id:
        raise LoginProblem("This Facebook sign-in was made for another app; start again.")
    if not data.get("is_valid"):
        raise LoginProblem("Facebook says this sign-in is no longer valid; start again.")
    targets = {
        str(g.get("scope")): [str(t) for t in g.get("target_ids") or []]
        for g in data.get("granular_scopes") or []
    }
    return Granted([str(s) for s in data.get("scopes") or []], targets)


def declined(channels: tuple[str, ...], granted: Granted) -> dict[str, list[str]]:
    """Per asked channel, the permissions the person did not grant."""
    missing = {c: [s for s in SCOPES[c] if s not in granted.scopes] for c in channels}
    return {c: m for c, m in missing.items() if m}


async def discover(login: FacebookLogin, token: str, granted: Granted) -> dict[str, Any]:
    """The Pages (with their page tokens and Instagram accounts) and WhatsApp numbers to offer."""
    pages: list[dict[str, Any]] = []
    if "pages_show_list" in granted.scopes:
        body = await graph_call(
            login,
            "GET",
            "me/accounts",
            fields="id,name,access_token,instagram_business_account",
            access_token=token,
        )
        for page in body.get("data") or []:
            ig = page.get("instagram_business_account") or {}
            pages.append(
                {
                    "id": str(page["id"]),
                    "name": page.get("name") or "",
                    "token": page.get("access_token") or "",
                    "instagram_id": str(ig["id"]) if ig.get("id") else None,
                }
            )
    numbers: list[dict[str, Any]] = []
    for waba_id in granted.targets.get("whatsapp_business_management", []):
        body = await graph_call(
            login,
            "GET",
            f"{waba_id}/phone_numbers",
            fields="id,display_phone_number,verified_name,quality_rating,name_status",
            access_token=token,
        )
        for phone in body.get("data") or []:
            numbers.append(
                {
                    "id": str(phone["id"]),
                    "waba_id": waba_id,
                    "number": phone.get("display_phone_number") or "",
                    "name": phone.get("verified_name") or "",
                    "quality": phone.get("quality_rating") or "",
                    # Meta still reviews the display name: messages cannot be sent yet
                    "in_review": phone.get("name_status") == "PENDING_REVIEW",
                }
            )
    return {"pages": pages, "numbers": numbers}


async def subscribe_page(login: FacebookLogin, page_id: str, page_token: str) -> list[str]:
    """Subscribe our app to the Page's messaging webhooks; the fields Meta reads back."""
    await graph_call(
        login,
        "POST",
        f"{page_id}/subscribed_apps",
        subscribed_fields=",".join(PAGE_FIELDS),
        access_token=page_token,
    )
    body = await graph_call(login, "GET", f"{page_id}/subscribed_apps", access_token=page_token)
    return page_fields(body.get("data") or [], login.app_id) or []


async def subscribe_waba(login: FacebookLogin, waba_id: str, token: str) -> bool:
    """Subscribe our app to the WhatsApp Business Account; whether Meta lists it afterwards."""
    await graph_call(login, "POST", f"{waba_id}/subscribed_apps", access_token=token)
    body = await graph_call(login, "GET", f"{waba_id}/subscribed_apps", access_token=token)
    return waba_subscribed(body.get("data") or [], login.app_id)
