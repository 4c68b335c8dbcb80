"""JSON routes of messages: the history, replying, reacting, and stored media."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response

from inbox_api.auth.dependencies import CurrentUser, Deps
from inbox_api.messages.models import ReactionIn, ReplyIn
from inbox_api.messages.service import chat_messages, media_file, react, send_reply

MAX_MESSAGES = 1000
router = APIRouter(tags=["messages"])


@router.get("/api/conversations/{chat_id}/messages")
async def messages(
    chat_id: uuid.UUID,
    user: CurrentUser,
    deps: Deps,
    limit: Annotated[int, Query(ge=1, le=MAX_MESSAGES)] = 500,
    mark_read: Annotated[bool, Query(description="opening a conversation marks it read")] = True,
) -> list[dict[str, Any]]:
    """A conversation's messages, oldest first (the last ``limit``); marks it read."""
    return await chat_messages(deps, user, chat_id, limit=limit, read=mark_read)


@router.post("/api/conversations/{chat_id}/messages", status_code=202, responses={404: {}, 409: {}, 422: {}})
async def reply(chat_id: uuid.UUID, body: ReplyIn, user: CurrentUser, deps: Deps) -> Any:
    """Queue a reply; its status then moves to sent, delivered, read or failed."""
    queued = await send_reply(deps, user, chat_id, body.text, body.reply_to, body.suggestion_id)
    return queued.to_dict()


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


@router.get("/api/media/{message_id}", responses={404: {}})
async def media(message_id: uuid.UUID, user: CurrentUser, deps: Deps) -> Response:
    """The stored media of a message of this tenant."""
    found = await media_file(deps, user, message_id)
    disposition = "inline" if found.inline else f"attachment; filename*=UTF-8''{quote(found.filename)}"
    return Response(
        found.data,
        media_type=found.mime_type if found.inline else "application/octet-stream",
        headers={
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
            "Content-Security-Policy": "sandbox",
        },
    )
