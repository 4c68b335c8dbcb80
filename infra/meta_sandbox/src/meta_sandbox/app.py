"""FastAPI app of the Meta sandbox: fake Graph routes under ``/{version}/``, the login dialog, and
``/_sandbox`` controls.

Graph routes (each module's docstring cites Meta's page for its formats):

==========================================================  ===========================================
``POST /{v}/{phone|page|ig|me}/messages``                   sends of every kind (``send.py``)
``POST /{v}/{phone}/media``                                 WhatsApp media upload (``media.py``)
``POST /{v}/{page|ig|me}/message_attachments``              Messenger/IG attachment upload
``GET  /{v}/{waba}/message_templates``                      templates, paginated (``templates.py``)
``GET  /{v}/{waba}/phone_numbers``                          numbers of a WABA (``business.py``)
``POST /{v}/{phone}/register`` , ``/deregister``            number registration
``GET  /{v}/me/accounts`` , ``/me/businesses``              a person's Pages (with page tokens), businesses
``GET  /{v}/{business}/owned_whatsapp_business_accounts``   a business's WABAs
``GET|POST|DELETE /{v}/{page|ig|waba}/subscribed_apps``     our app's subscriptions (``subscriptions.py``)
``GET  /{v}/oauth/access_token``                            code / ``fb_exchange_token`` (``oauth.py``)
``GET  /{v}/debug_token``                                   token inspection (``objects.py``)
``GET  /{v}/{id}``                                          node reads (``objects.py``)
``GET  /{v}/dialog/oauth`` (and ``/dialog/oauth``)          the login dialog page (``dialog.py``)
``GET  /_media/{id}``                                       the short-lived media URL
==========================================================  ===========================================
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from meta_sandbox.attachments import upload_attachment
from meta_sandbox.business import (
    business_wabas,
    me_accounts,
    me_businesses,
    register_number,
    waba_phone_numbers,
)
from meta_sandbox.control import router as control_router
from meta_sandbox.control_meta import router as control_meta_router
from meta_sandbox.dialog import confirm, dialog
from meta_sandbox.errors import MetaError, meta_error_handler
from meta_sandbox.media import upload_media
from meta_sandbox.oauth import access_token
from meta_sandbox.objects import debug_token, download_media, read_object
from meta_sandbox.send import send_message
from meta_sandbox.state import SandboxConfig, SandboxState
from meta_sandbox.subscriptions import subscribed_apps
from meta_sandbox.templates import list_templates
from meta_sandbox.webhooks import WebhookEmitter


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    """Build a sandbox app with fresh, empty state."""
    state = SandboxState(config or SandboxConfig())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=5.0) as http:
            app.state.http = http  # webhooks out, and attachment urls Meta would fetch
            app.state.emitter = WebhookEmitter(state, http)
            yield
            await app.state.emitter.aclose()

    app = FastAPI(title="Meta sandbox", lifespan=lifespan, openapi_url="/_sandbox/openapi.json")
    app.state.sandbox = state
    app.add_exception_handler(MetaError, meta_error_handler)
    app.include_router(control_router)
    app.include_router(control_meta_router)
    # Specific paths first: "/{ver}/{object_id}/…" would take "dialog/oauth" and "oauth/access_token".
    app.add_api_route("/_media/{media_id}", download_media, methods=["GET"])
    app.add_api_route("/dialog/oauth", dialog, methods=["GET"])
    app.add_api_route("/dialog/oauth/confirm", confirm, methods=["POST"])
    app.add_api_route("/{ver}/dialog/oauth", dialog, methods=["GET"])
    app.add_api_route("/{ver}/dialog/oauth/confirm", confirm, methods=["POST"])
    app.add_api_route("/{ver}/oauth/access_token", access_token, methods=["GET", "POST"])
    app.add_api_route("/{ver}/debug_token", debug_token, methods=["GET"])
    edges = [
        ("messages", send_message, ["POST"]),
        ("media", upload_media, ["POST"]),
        ("message_attachments", upload_attachment, ["POST"]),
        ("message_templates", list_templates, ["GET"]),
        ("phone_numbers", waba_phone_numbers, ["GET"]),
        ("register", register_number, ["POST"]),
        ("deregister", register_number, ["POST"]),
        ("accounts", me_accounts, ["GET"]),
        ("businesses", me_businesses, ["GET"]),
        ("owned_whatsapp_business_accounts", business_wabas, ["GET"]),
        ("client_whatsapp_business_accounts", business_wabas, ["GET"]),
        ("subscribed_apps", subscribed_apps, ["GET", "POST", "DELETE"]),
    ]
    for edge, handler, methods in edges:
        app.add_api_route(f"/{{ver}}/{{object_id}}/{edge}", handler, methods=methods)
    app.add_api_route("/{ver}/{object_id}", read_object, methods=["GET"])
    return app
