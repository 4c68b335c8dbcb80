"""The login dialog: a plain HTML stand-in for ``https://www.facebook.com/{ver}/dialog/oauth``.

``GET /{ver}/dialog/oauth?client_id&redirect_uri&state&scope=a,b&response_type=code`` (or
``config_id`` for a Facebook Login for Business configuration, with ``extras`` for WhatsApp Embedded
Signup) shows a form: pick a test person (when there are several), tick the Pages, Instagram
accounts and WhatsApp Business Accounts to share and the permissions to grant — unticking one
declines it. Submitting redirects (303) to ``redirect_uri?code=…&state=…`` (plus
``granted_scopes``/``denied_scopes`` with ``return_scopes=true``); cancelling redirects to
``redirect_uri?error=access_denied&error_code=200&error_description=Permissions+error&error_reason=user_denied&state=…``.
https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow

Embedded Signup (``config_id`` plus ``extras`` naming ``whatsapp_embedded_signup`` or a
``sessionInfoVersion``): the person picks one number of one WABA. Meta's popup tells the opening page
which with a ``WA_EMBEDDED_SIGNUP`` window message; the sandbox's finish page does the same — when it
was opened as a popup it posts ``{"type": "WA_EMBEDDED_SIGNUP", "event": "FINISH", "data":
{"phone_number_id", "waba_id", "business_id"}}`` (JSON text, to the ``redirect_uri``'s origin) to
``window.opener`` — then redirects with the code. A page that does not listen for it finds the same
ids as Meta documents: the exchanged token's ``debug_token`` ``granular_scopes`` (the WABA), then
``GET /{waba-id}/phone_numbers``; tests can also read ``GET /_sandbox/oauth/codes/{code}``.
https://developers.facebook.com/docs/whatsapp/embedded-signup/implementation#session-logging-message-event-listener

Stable ids for browser tests: ``#person-<user_id>`` + ``#continue``; ``#asset-page-<id>``,
``#asset-ig-<id>``, ``#asset-waba-<id>``, ``#asset-phone-<id>`` (Embedded Signup), ``#perm-<scope>``;
``#confirm``, ``#cancel``. Every input has a ``<label>``.
"""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meta_sandbox.grants import BUSINESS_SCOPES, IG_SCOPES, PAGE_SCOPES, WABA_SCOPES, Authorization
from meta_sandbox.graph import sandbox_state
from meta_sandbox.state import SandboxState, new_numeric_id
from meta_sandbox.world import Person

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("meta_sandbox", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
SCOPE_LABELS = {
    "public_profile": "Your name and profile picture",
    "email": "Your email address",
    "pages_show_list": "Show a list of the Pages you manage",
    "pages_messaging": "Manage and access Page conversations in Messenger",
    "pages_manage_metadata": "Manage accounts, settings and webhooks for a Page",
    "pages_read_engagement": "Read content posted on the Page",
    "instagram_basic": "Access profile and posts from the Instagram account connected to your Page",
    "instagram_manage_messages": "Manage and access Instagram Direct messages",
    "instagram_manage_comments": "Manage comments for the Instagram account connected to your Page",
    "whatsapp_business_management": "Manage your WhatsApp accounts",
    "whatsapp_business_messaging": "Send and receive WhatsApp messages",
    "business_management": "Manage your business",
}
_CARRIED = (
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "config_id",
    "extras",
    "return_scopes",
    "response_type",
)


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(
        _TEMPLATES.get_template("dialog.html").render(view=name, **context), status_code=status
    )


def _requested(state: SandboxState, params: dict[str, str]) -> tuple[list[str], bool]:
    """The permissions asked for, and whether this is an Embedded Signup flow."""
    if params.get("config_id"):
        config = state.oauth.config(params["config_id"])
        try:
            extras = json.loads(params.get("extras") or "{}")
        except ValueError:
            extras = {}
        named = "whatsapp_embedded_signup" in json.dumps(extras) or "sessionInfoVersion" in extras
        return list(config.scopes), config.embedded_signup and (named or not params.get("extras"))
    raw = params.get("scope", "").replace(" ", ",")
    scopes = [s for s in raw.split(",") if s]
    return scopes or ["public_profile"], False


def _refusal(state: SandboxState, params: dict[str, str]) -> str | None:
    """Why the dialog cannot open (Meta shows an error page, never redirects, in these cases)."""
    if params.get("client_id") != state.config.app_id:
        return "Invalid App ID: the client_id is not this app's id."
    redirect = params.get("redirect_uri", "")
    parts = urlsplit(redirect)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "The redirect_uri must be an absolute http(s) URL."
    allowed = state.config.oauth_redirect_uris
    if allowed is not None and redirect not in allowed:
        return (
            "URL blocked: This redirect failed because the redirect URI is not whitelisted in the app's "
            "Client OAuth Settings."
        )
    if params.get("response_type", "code") != "code":
        return "The sandbox supports response_type=code only."
    return None


async def dialog(request: Request) -> Response:
    """``GET /{ver}/dialog/oauth`` (and ``/dialog/oauth``): the person picker or the consent form."""
    state = sandbox_state(request)
    params = dict(request.query_params)
    refusal = _refusal(state, params)
    if refusal is not None:
        return _page("error", 400, message=refusal)
    people = list(state.world.people.values())
    if not people:
        return _page("error", 400, message="No test people: add one with POST /_sandbox/people.")
    person = state.world.people.get(params.get("person", ""))
    if person is None and len(people) > 1:
        carried = {k: params[k] for k in _CARRIED if k in params}
        return _page("choose", people=people, carried=carried)
    return _consent(state, params, person or people[0])


def _consent(state: SandboxState, params: dict[str, str], person: Person) -> HTMLResponse:
    scopes, embedded = _requested(state, params)
    pages = [state.accounts[("facebook", p)] for p in person.page_ids]
    igs = [state.accounts[("instagram", p.instagram_id)] for p in pages if p.instagram_id]
    wabas = []
    for waba_id in state.world.waba_ids_of(person):
        numbers = [a for a in state.accounts.values() if a.channel == "whatsapp" and a.waba_id == waba_id]
        wabas.append({"waba": state.world.wabas[waba_id], "numbers": numbers})
    carried = {k: params[k] for k in _CARRIED if k in params}
    return _page(
        "consent",
        person=person,
        carried=carried,
        scopes=[(s, SCOPE_LABELS.get(s, s)) for s in scopes],
        show_pages=bool(set(scopes) & PAGE_SCOPES) and not embedded,
        show_igs=bool(set(scopes) & IG_SCOPES) and not embedded,
        show_wabas=bool(set(scopes) & (WABA_SCOPES | BUSINESS_SCOPES)),
        embedded=embedded,
        pages=pages,
        igs=igs,
        wabas=wabas,
    )


async def confirm(request: Request) -> Response:
    """``POST /{ver}/dialog/oauth/confirm``: the form's answer; redirects like Meta's dialog."""
    state = sandbox_state(request)
    form = await request.form()
    params = {k: str(form[k]) for k in (*_CARRIED, "person", "action") if isinstance(form.get(k), str)}
    refusal = _refusal(state, params)
    person = state.world.people.get(params.get("person", ""))
    if refusal is not None or person is None:
        return _page("error", 400, message=refusal or "Unknown test person.")
    requested, embedded = _requested(state, params)
    if params.get("action") != "confirm":
        query = {
            "error": "access_denied",
            "error_code": "200",
            "error_description": "Permissions error",
            "error_reason": "user_denied",
            "state": params.get("state", ""),
        }
        cancelled = {"type": "WA_EMBEDDED_SIGNUP", "event": "CANCEL", "data": {"current_step": "PERMISSIONS"}}
        return _finish(params["redirect_uri"], query, cancelled if embedded else None)
    picked = {
        name: [str(v) for v in form.getlist(name)] for name in ("perm", "page", "instagram", "waba", "phone")
    }
    auth, session = _authorize(state, person, requested, picked, embedded)
    code = state.oauth.new_code(params["client_id"], params["redirect_uri"], auth)
    query = {"code": code.code, "state": params.get("state", "")}
    if params.get("return_scopes") == "true":
        query["granted_scopes"] = ",".join(auth.scopes)
        query["denied_scopes"] = ",".join(auth.declined)
    finished = None
    if session is not None:
        finished = {"type": "WA_EMBEDDED_SIGNUP", "event": "FINISH", "data": session, "version": "3"}
    return _finish(params["redirect_uri"], query, finished)


def _authorize(
    state: SandboxState, person: Person, requested: list[str], picked: dict[str, list[str]], embedded: bool
) -> tuple[Authorization, dict[str, str] | None]:
    """What the ticks grant: scopes, their targets, and Embedded Signup's session info."""
    granted = [s for s in requested if s in picked["perm"]]
    if "public_profile" not in granted:
        granted.append("public_profile")  # Meta always grants it
    session = None
    wabas = [w for w in picked["waba"] if w in state.world.waba_ids_of(person)]
    if embedded:
        phone = state.accounts.get(("whatsapp", picked["phone"][0] if picked["phone"] else ""))
        if phone is not None and phone.waba_id in state.world.waba_ids_of(person):
            wabas = [phone.waba_id]
            business = state.world.wabas[phone.waba_id].business_id
            session = {"phone_number_id": phone.account_id, "waba_id": phone.waba_id, "business_id": business}
    businesses = [state.world.wabas[w].business_id for w in wabas] or list(person.business_ids)
    targets_by_kind = {
        PAGE_SCOPES: [p for p in picked["page"] if p in person.page_ids],
        IG_SCOPES: [i for i in picked["instagram"] if i in _linked_instagram(state, person)],
        WABA_SCOPES: wabas,
        BUSINESS_SCOPES: list(dict.fromkeys(businesses)),
    }
    targets = {s: ids for s in granted for kind, ids in targets_by_kind.items() if s in kind}
    auth = Authorization(
        auth_id=secrets.token_hex(8),
        user_id=person.user_id,
        scopes=granted,
        targets=targets,
        declined=[s for s in requested if s not in granted],
        issues="SYSTEM_USER" if embedded else "USER",
        system_user_id=new_numeric_id() if embedded else None,
        es_session=session,
    )
    return auth, session


def _linked_instagram(state: SandboxState, person: Person) -> set[str]:
    """Instagram accounts linked to the person's Pages (the only ones the dialog offers)."""
    pages = (state.accounts[("facebook", p)] for p in person.page_ids)
    return {p.instagram_id for p in pages if p.instagram_id}


def _finish(redirect_uri: str, query: dict[str, str], message: dict[str, Any] | None) -> Response:
    target = _with_query(redirect_uri, query)
    if message is None:
        return RedirectResponse(target, status_code=303)
    parts = urlsplit(redirect_uri)
    return _page(
        "finish",
        target=target,
        origin=f"{parts.scheme}://{parts.netloc}",
        message=json.dumps(message),
    )


def _with_query(url: str, extra: dict[str, str]) -> str:
    """``url`` with ``extra`` appended to its query (its own parameters kept)."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(extra)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
