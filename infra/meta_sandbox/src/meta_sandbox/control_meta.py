"""``/_sandbox`` controls for templates, test people, OAuth and subscriptions (see ``control.py`` for
accounts, faults, records and configuration). Unauthenticated, like every control: bind to 127.0.0.1.

- ``POST /_sandbox/templates``: add a template (``templates.TemplateIn``); ``GET`` lists them
  (``?waba_id=``); ``POST /_sandbox/templates/samples {"waba_id"}`` seeds a restaurant's set in every
  shape and status; ``POST /_sandbox/templates/{id}/status {"status", "reason"?}`` changes a status
  and sends the signed ``message_template_status_update`` webhook to the ingress.
- ``POST /_sandbox/people``: a test person with Pages (and linked Instagram accounts), businesses,
  WABAs, numbers (``world.PersonIn``); ``GET`` lists them.
- ``POST /_sandbox/oauth/configs``: a Login for Business configuration (``config_id``, ``scopes``,
  ``embedded_signup``); ``GET /_sandbox/oauth/codes/{code}`` shows what a code grants (Embedded
  Signup's session info included); ``POST /_sandbox/oauth/codes/{code}/expire`` makes it expire;
  ``POST /_sandbox/oauth/revoke {"user_id", "scope", "target_id"?}`` takes a permission (or one
  target of it) back from every token of the person.
- ``POST /_sandbox/oauth/tokens``: a token as if a person had granted exactly ``targets`` (scope ->
  ids), optionally issued to another app (``app_id``): a user token can still read any known Page's
  public name, so a test can make a token that *reads* a Page it was never *granted*.
- ``GET /_sandbox/subscriptions``; ``DELETE /_sandbox/subscriptions/{object_id}`` drops our app's
  subscription, as Meta does after an hour of failed deliveries; ``POST
  /_sandbox/subscriptions/{object_id} {"fields": [...]}`` sets what it holds (e.g. without
  ``messages``, a subscription that no longer brings messages).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from meta_sandbox.grants import ES_SCOPES, Authorization, LoginConfig, TokenKind
from meta_sandbox.state import SandboxState, new_id
from meta_sandbox.template_samples import sample_templates
from meta_sandbox.templates import Template, TemplateIn, TemplateStatus, add_template, status_update_payload
from meta_sandbox.webhooks import WebhookEmitter
from meta_sandbox.world import PersonIn, add_person, person_summary

router = APIRouter(prefix="/_sandbox")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SamplesIn(_In):
    waba_id: str


class StatusIn(_In):
    status: TemplateStatus
    reason: str | None = None


class LoginConfigIn(_In):
    config_id: str
    scopes: list[str] = Field(default_factory=lambda: list(ES_SCOPES))
    embedded_signup: bool = True


class RevokeIn(_In):
    user_id: str
    scope: str
    target_id: str | None = None  # only this Page / WABA / … ; None: the whole permission


class SubscriptionIn(_In):
    fields: list[str] = Field(default_factory=list)


class TokenIn(_In):
    """A token granted exactly these targets (``POST /_sandbox/oauth/tokens``)."""

    user_id: str = "sandbox-person"
    kind: TokenKind = "USER"
    scopes: list[str] = Field(default_factory=list)  # default: the keys of ``targets``
    targets: dict[str, list[str]] = Field(default_factory=dict)  # granular scope -> target ids
    page_id: str | None = None  # PAGE tokens: the Page it acts as (``GET /me``)
    app_id: str | None = None  # another app's token; None: issued to the sandbox's app
    expires_in_s: int | None = None  # None: never expires


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def _template_out(template: Template) -> dict[str, Any]:
    return {**template.public(), "waba_id": template.waba_id, "reason": template.reason}


@router.post("/oauth/tokens", status_code=201)
async def create_token(body: TokenIn, request: Request) -> dict[str, Any]:
    """Issue a token with exactly the given grants; answers ``{"token"}`` (tests keep it)."""
    store = _state(request).oauth
    auth = Authorization(
        auth_id=new_id("auth-"),
        user_id=body.user_id,
        scopes=body.scopes or list(body.targets),
        targets={scope: list(ids) for scope, ids in body.targets.items()},
        app_id=body.app_id,
    )
    store.authorizations[auth.auth_id] = auth
    grant = store.issue(auth, body.kind, ttl_s=body.expires_in_s, page_id=body.page_id)
    return {"token": grant.token}


@router.post("/templates", status_code=201)
async def create_template(body: TemplateIn, request: Request) -> dict[str, Any]:
    """Add (or replace, by WABA, name and language) a template."""
    return _template_out(add_template(_state(request), body))


@router.get("/templates")
async def get_templates(request: Request, waba_id: str | None = None) -> list[dict[str, Any]]:
    """Templates, optionally of one WABA."""
    items = _state(request).templates.values()
    return [_template_out(t) for t in items if waba_id is None or t.waba_id == waba_id]


@router.post("/templates/samples", status_code=201)
async def create_samples(body: SamplesIn, request: Request) -> list[dict[str, Any]]:
    """Seed the sample set (``template_samples``) into a WABA."""
    state = _state(request)
    return [
        _template_out(add_template(state, TemplateIn.model_validate(t)))
        for t in sample_templates(body.waba_id)
    ]


@router.post("/templates/{template_id}/status")
async def change_template_status(template_id: str, body: StatusIn, request: Request) -> dict[str, Any]:
    """Change a template's status and send ``message_template_status_update`` (when webhooks are on)."""
    state = _state(request)
    template = state.templates.get(template_id)
    if template is None:
        raise HTTPException(404, "unknown template")
    template.status, template.reason = body.status, body.reason
    payload = status_update_payload(template, body.status, body.reason)
    emitter: WebhookEmitter = request.app.state.emitter
    status_code = await emitter.deliver("whatsapp", payload) if emitter.enabled else None
    return {"template": _template_out(template), "status_code": status_code, "payload": payload}


@router.post("/people", status_code=201)
async def create_person(body: PersonIn, request: Request) -> dict[str, Any]:
    """Add a test person and the assets they administer."""
    state = _state(request)
    return person_summary(state, add_person(state, body))


@router.get("/people")
async def get_people(request: Request) -> list[dict[str, Any]]:
    """Test people and their assets."""
    state = _state(request)
    return [person_summary(state, p) for p in state.world.people.values()]


@router.post("/oauth/configs", status_code=201)
async def create_login_config(body: LoginConfigIn, request: Request) -> dict[str, Any]:
    """Register a Login for Business configuration."""
    config = LoginConfig(body.config_id, list(body.scopes), body.embedded_signup)
    _state(request).oauth.configs[config.config_id] = config
    return dataclasses.asdict(config)


@router.get("/oauth/codes/{code}")
async def get_code(code: str, request: Request) -> dict[str, Any]:
    """What a dialog code grants (for tests: a page that ignores Embedded Signup's window message)."""
    oauth = _state(request).oauth
    stored = oauth.codes.get(code)
    if stored is None:
        raise HTTPException(404, "unknown code")
    auth = oauth.authorizations[stored.auth_id]
    return {
        "client_id": stored.client_id,
        "redirect_uri": stored.redirect_uri,
        "user_id": auth.user_id,
        "scopes": auth.scopes,
        "declined": auth.declined,
        "granular_scopes": auth.granular_scopes(),
        "session_info": auth.es_session,
        "used": stored.used,
        "expired": stored.expired,
    }


@router.post("/oauth/codes/{code}/expire", status_code=204)
async def expire_code(code: str, request: Request) -> None:
    """Make a code expire now (Meta's codes live about 10 minutes)."""
    stored = _state(request).oauth.codes.get(code)
    if stored is None:
        raise HTTPException(404, "unknown code")
    stored.expired = True


@router.post("/oauth/revoke")
async def revoke_permission(body: RevokeIn, request: Request) -> list[dict[str, Any]]:
    """Take a permission (or one of its targets) back from every authorization of a person."""
    auths = _state(request).oauth.of_user(body.user_id)
    if not auths:
        raise HTTPException(404, "this person authorized nothing")
    for auth in auths:
        if body.target_id is None:
            auth.scopes = [s for s in auth.scopes if s != body.scope]
            auth.targets.pop(body.scope, None)
            if body.scope not in auth.declined:
                auth.declined.append(body.scope)
        elif body.scope in auth.targets:
            auth.targets[body.scope] = [t for t in auth.targets[body.scope] if t != body.target_id]
    return [{"scopes": a.scopes, "granular_scopes": a.granular_scopes()} for a in auths]


@router.get("/subscriptions")
async def get_subscriptions(request: Request) -> dict[str, list[str]]:
    """Objects our app is subscribed to, with their subscribed fields."""
    return _state(request).subscriptions


@router.delete("/subscriptions/{object_id}", status_code=204)
async def drop_subscription(object_id: str, request: Request) -> None:
    """Unsubscribe our app from an object, as Meta does after an hour of failed deliveries."""
    _state(request).subscriptions.pop(object_id, None)


@router.post("/subscriptions/{object_id}")
async def set_subscription(object_id: str, body: SubscriptionIn, request: Request) -> dict[str, list[str]]:
    """Subscribe our app to an object with exactly ``fields`` (no check of the token or the fields)."""
    subscriptions = _state(request).subscriptions
    subscriptions[object_id] = list(body.fields)
    return subscriptions
