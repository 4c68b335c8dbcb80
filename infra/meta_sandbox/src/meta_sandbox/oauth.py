"""``GET /{ver}/oauth/access_token``: a dialog code for a token, a short-lived token for a long one.

Code exchange (``client_id``, ``client_secret``, ``redirect_uri``, ``code``) answers
``{"access_token", "token_type": "bearer", "expires_in"}``; the code is single use, expires after
``oauth_code_ttl_s`` (10 minutes, Meta's), and ``redirect_uri`` must be exactly the dialog's.
https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow#confirm
Embedded Signup codes give a business integration system-user token, which does not expire (no
``expires_in``). https://developers.facebook.com/docs/whatsapp/embedded-signup/implementation
``grant_type=fb_exchange_token`` with ``fb_exchange_token`` gives a long-lived user token (~60 days).
https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived

Refusals, with the bodies developers see from Meta (type ``OAuthException``, HTTP 400):
``Error validating application. Invalid application ID.`` (101), ``Error validating client
secret.`` (1), ``Invalid verification code format.`` (100), ``This authorization code has been
used.`` (100/36009), ``This authorization code has expired.`` (100/36007), ``Error validating
verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth
dialog request`` (100/36008), and the usual 190 for a bad ``fb_exchange_token``.

A long-lived user token exchanged again gives a fresh token with a new ~60-day expiry (its page
tokens and the consent's data access expiry unchanged). A token made unexchangeable on command
(``POST /_sandbox/tokens {"token", "exchangeable": false}``) is refused with the sandbox's own
wording (Meta documents none for this case): ``(#100) This access token cannot be exchanged; the
person must log in again.``
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from meta_sandbox.errors import MetaError
from meta_sandbox.graph import check_version, record, sandbox_state
from meta_sandbox.state import SandboxConfig, SandboxState


def _params(request: Request, entry: dict[str, Any], form: dict[str, Any]) -> dict[str, str]:
    """Query parameters, and for a POST its JSON or form fields too (Meta accepts either)."""
    params = dict(request.query_params)
    body = entry["json"] if isinstance(entry["json"], dict) else form
    params.update({k: str(v) for k, v in body.items() if isinstance(v, str | int)})
    return params


def check_client(config: SandboxConfig, client_id: str | None, secret: str | None) -> None:
    """The app id must be ours and the secret its app secret (any secret when none is configured)."""
    if not client_id:
        raise MetaError(101, message="Missing client_id parameter.", http_status=400)
    if client_id != config.app_id:
        raise MetaError(101, http_status=400)
    expected = config.app_secret
    if not secret or (
        expected is not None and not secrets.compare_digest(secret.encode(), expected.encode())
    ):
        raise MetaError(1, message="Error validating client secret.", http_status=400)


async def access_token(ver: str, request: Request) -> JSONResponse:
    """``GET|POST /{ver}/oauth/access_token``."""
    entry = await record(request)
    check_version(ver)
    form: dict[str, Any] = {}
    if request.method == "POST" and entry["json"] is None:
        form = dict(await request.form())
    params = _params(request, entry, form)
    state = sandbox_state(request)
    check_client(state.config, params.get("client_id"), params.get("client_secret"))
    if params.get("grant_type") == "fb_exchange_token":
        answer = _long_lived(state, params.get("fb_exchange_token"))
    else:
        answer = _exchange_code(state, params.get("code"), params.get("redirect_uri", ""))
    entry["response_status"] = 200
    return JSONResponse(answer)


def _exchange_code(state: SandboxState, code: str | None, redirect_uri: str) -> dict[str, Any]:
    stored = state.oauth.codes.get(code or "")
    if stored is None:
        raise MetaError(100, message="Invalid verification code format.")
    if stored.used:
        raise MetaError(100, subcode=36009, message="This authorization code has been used.")
    if stored.expired or time.time() - stored.created_at > state.config.oauth_code_ttl_s:
        raise MetaError(100, subcode=36007, message="This authorization code has expired.")
    if redirect_uri != stored.redirect_uri:
        raise MetaError(
            100,
            subcode=36008,
            message="Error validating verification code. Please make sure your redirect_uri is identical "
            "to the one you used in the OAuth dialog request",
        )
    stored.used = True
    auth = state.oauth.authorizations[stored.auth_id]
    if auth.issues == "SYSTEM_USER":
        grant = state.oauth.issue(auth, "SYSTEM_USER", ttl_s=None)
        return {"access_token": grant.token, "token_type": "bearer"}
    ttl = state.config.short_token_ttl_s
    grant = state.oauth.issue(auth, "USER", ttl_s=ttl)
    return {"access_token": grant.token, "token_type": "bearer", "expires_in": ttl}


def _long_lived(state: SandboxState, token: str | None) -> dict[str, Any]:
    grant = state.oauth.grant(token) if token else None
    if grant is None:
        raise MetaError(190, subcode=467)
    auth = state.oauth.authorization(grant)
    if grant.revoked or auth.revoked:
        raise MetaError(190, subcode=460)
    if grant.expired:
        raise MetaError(190, subcode=463)
    if grant.kind != "USER":
        raise MetaError(100, message="(#100) fb_exchange_token must be a user access token")
    if not grant.exchangeable:
        raise MetaError(
            100, message="(#100) This access token cannot be exchanged; the person must log in again."
        )
    ttl = state.config.long_token_ttl_s
    long_lived = state.oauth.issue(auth, "USER", ttl_s=ttl, long_lived=True)
    return {"access_token": long_lived.token, "token_type": "bearer", "expires_in": ttl}
