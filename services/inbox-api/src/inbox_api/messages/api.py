"""JSON routes of messages: the history, replying (text, template or files), reacting, sending a
failed message again, and stored media."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from inbox_api.auth.dependencies import CurrentUser, Deps
from inbox_api.messages.files import read_files
from inbox_api.messages.models import NewConversationIn, ReactionIn, ReplyIn
from inbox_api.messages.retry import retry
from inbox_api.messages.service import (
    chat_messages,
    media_file,
    react,
    send_files,
    send_reply,
    send_template,
    write_first,
)
from omni_common.outbound.rich import TemplateRequest

MAX_MESSAGES = 1000
router = APIRouter(tags=["messages"])
# The route reads its body itself (JSON or multipart): the document says what it takes.
REPLY_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ReplyIn"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "one or more files; each goes as its own message",
                        },
                        "text": {"type": "string", "description": "the caption"},
                        "reply_to": {"type": "string", "format": "uuid"},
                    },
                }
            },
        },
    }
}


def document_reply_body(app: FastAPI) -> None:
    """Put ``ReplyIn`` (read by the reply route itself, JSON or multipart) in the OpenAPI document's
    schemas, where ``REPLY_BODY`` refers to it."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        reply = ReplyIn.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, nested in reply.pop("$defs", {}).items():
            schemas.setdefault(name, nested)
        schemas["ReplyIn"] = reply
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend it


@router.get("/api/conversations/{chat_id}/messages")
async def messages(
    chat_id: uuid.UUID,
    user: CurrentUser,
    deps: Deps,
    limit: Annotated[int, Query(ge=1, le=MAX_MESSAGES)] = 500,
) -> list[dict[str, Any]]:
    """A conversation's messages, oldest first (the last ``limit``). Changes nothing: mark it read
    with ``POST /api/conversations/{id}/read``."""
    return await chat_messages(deps, user, chat_id, limit=limit)


@router.post(
    "/api/conversations/{chat_id}/messages",
    status_code=202,
    responses={404: {}, 409: {}, 422: {}},
    openapi_extra=REPLY_BODY,
)
async def reply(chat_id: uuid.UUID, request: Request, user: CurrentUser, deps: Deps) -> Any:
    """Queue a reply: ``{"text", "reply_to"}``, a WhatsApp ``{"template": {"name", "language",
    "parameters": {"body", "header", "buttons"}}}``, or files (``multipart/form-data``: ``file``,
    optional ``text`` as the caption). 202 with the message (``kind``; for files the first one, all
    of them in ``messages``); its status then moves to sent, delivered, read or failed.

    422 names the field at fault (``field``: ``template.parameters.body.2``, ``file``...); 409 when
    the platform's window allows no such message now."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        files, caption, reply_to = await read_files(request, deps, user, chat_id)
        queued = await send_files(deps, user, chat_id, files, caption, reply_to)
        return queued[0].to_dict() | {"messages": [q.to_dict() for q in queued]}
    try:
        body = ReplyIn.model_validate_json(await request.body())
    except ValidationError as exc:
        # Without the input: bytes that are not UTF-8 would fail to encode in the 422 itself (a 500).
        raise RequestValidationError(exc.errors(include_url=False, include_input=False), body=None) from exc
    if body.template is not None:
        t = body.template
        template = TemplateRequest(t.name, t.language, t.parameters.model_dump(exclude_none=True))
        return (await send_template(deps, user, chat_id, template, body.reply_to)).to_dict()
    text = await send_reply(deps, user, chat_id, body.text or "", body.reply_to, body.suggestion_id)
    return text.to_dict()


@router.post("/api/conversations", status_code=201, responses={409: {}, 422: {}})
async def new_conversation(body: NewConversationIn, user: CurrentUser, deps: Deps) -> dict[str, Any]:
    """Write first on WhatsApp: ``{"account_id", "to", "template": {...}}``. The phone number is taken
    in any formatting with its country code (422 ``field: to`` otherwise); a number already known
    reuses its conversation. 201 ``{conversation_id, message_id, created}``."""
    t = body.template
    request = TemplateRequest(t.name, t.language, t.parameters.model_dump(exclude_none=True))
    started = await write_first(deps, user, body.account_id, body.to, request)
    return {
        "conversation_id": str(started.chat_id),
        "message_id": str(started.queued.message_id),
        "created": started.created,
        "message": started.queued.to_dict(),
    }


@router.post(
    "/api/conversations/{chat_id}/messages/{message_id}/retry",
    status_code=202,
    responses={404: {}, 409: {}, 422: {}},
)
async def retry_message(chat_id: uuid.UUID, message_id: uuid.UUID, user: CurrentUser, deps: Deps) -> Any:
    """Send a failed message again (a file already uploaded to Meta is not uploaded again); 409 when
    it did not fail or the platform's window allows it no more."""
    return (await retry(deps, user, chat_id, message_id)).to_dict()


@router.post(
    "/api/conversations/{chat_id}/messages/{message_id}/reactions",
    status_code=202,
    responses={404: {}, 409: {}, 422: {}},
)
async def add_reaction(
    chat_id: uuid.UUID, message_id: uuid.UUID, body: ReactionIn, user: CurrentUser, deps: Deps
) -> Any:
    """React to a customer's WhatsApp message; 422 ``reactions_unsupported`` on Messenger/Instagram."""
    queued = await react(deps, user, chat_id, message_id, body.emoji)
    return queued.to_dict() | {"emoji": queued.text}


@router.get("/api/media/{message_id}", responses={302: {}, 404: {}})
async def media(message_id: uuid.UUID, user: CurrentUser, deps: Deps) -> Response:
    """The stored media of a message of this tenant: its bytes (local disk), or a redirect to a
    link signed for a few minutes (object storage: the bytes do not pass through the inbox)."""
    found = await media_file(deps, user, message_id)
    if found.url is not None:
        # The link is the credential: never cached (the /api/ default no-store stays), never leaked
        # in a Referer (the app's same-origin policy).
        return RedirectResponse(found.url, status_code=302)
    return Response(
        found.data,
        media_type=found.content_type,
        headers={
            "Content-Disposition": found.disposition,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
            "Content-Security-Policy": "sandbox",
        },
    )
