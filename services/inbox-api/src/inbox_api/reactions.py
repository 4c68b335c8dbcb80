"""Staff reactions: react to a customer's WhatsApp message with an emoji.

The reaction is an outbound message of kind ``reaction`` (text = the emoji, reply_to = the message
reacted to) queued through the same outbox and sender as a reply, so it gets the same guarantees
(committed before publishing, never sent twice, the 24-hour window and account checks).
Only WhatsApp has a documented reaction message; Messenger and Instagram are refused with 422.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth import CurrentUser, Deps, Principal
from inbox_api.deps import InboxDeps
from inbox_api.messages import publish_and_announce, refusal_status
from inbox_api.web import PageUser, _require_csrf, _thread_context, render
from inbox_api.workflow import actor_of
from omni_common.contracts import SendReply
from omni_common.db.tenant_models import Chat, ChatMessage, Outbox, SocialAccount, User
from omni_common.domain import reply_window
from omni_common.graph import REACTIONS, PayloadError, build_reaction_payload
from omni_common.outbound.replies import (
    OUTBOX_KIND,
    AccountUnavailable,
    ChatNotFound,
    QueuedReply,
    ReplyRefused,
    WindowClosed,
)
from omni_common.tenancy.audit import record

log = structlog.get_logger(__name__)
# Offered in the conversation view; the API accepts any single emoji.
QUICK_EMOJIS = ("👍", "❤️", "🙏", "😂")


class ReactionUnsupported(ReplyRefused):
    """The channel has no reaction message we can send."""

    reason = "reactions_unsupported"


class ReactionTargetInvalid(ReplyRefused):
    """The message cannot be reacted to (not a customer's message, or without a platform id)."""

    reason = "invalid_target"


class MessageNotFound(ChatNotFound):
    """No such message in this conversation."""


def validate_emoji(emoji: str) -> str:
    """The emoji, stripped; ReplyRefused when it is not one emoji (checked like the payload is)."""
    try:
        payload = build_reaction_payload("whatsapp", to="+1", message_id="x", emoji=emoji)
    except PayloadError as exc:
        refused = ReplyRefused(str(exc))
        refused.reason = "invalid_emoji"
        raise refused from exc
    return payload["reaction"]["emoji"]


async def queue_reaction(
    session: AsyncSession,
    *,
    user: Principal,
    chat_id: uuid.UUID,
    message_id: uuid.UUID,
    emoji: str,
) -> QueuedReply:
    """Store the reaction as a queued outbound message with its outbox row and its audit entry
    (``reaction.sent``), all in the caller's transaction (the caller commits)."""
    tenant_id, user_id = user.tenant_id, user.user_id
    chat = await session.get(Chat, chat_id)
    if chat is None:
        raise ChatNotFound(f"no conversation {chat_id}")
    target = await session.get(ChatMessage, message_id)
    if target is None or target.chat_id != chat_id:
        raise MessageNotFound(f"no message {message_id} in this conversation")
    if not REACTIONS.get(chat.channel, False):
        raise ReactionUnsupported(
            "reactions can only be sent on WhatsApp: Messenger and Instagram offer no reaction "
            "message for businesses"
        )
    if target.direction != "inbound" or target.kind == "reaction" or not target.external_message_id:
        raise ReactionTargetInvalid("only a customer's message can be reacted to")
    emoji = validate_emoji(emoji)
    account = await session.get(SocialAccount, chat.social_account_id)
    if account is None or not account.is_active or account.status != "active":
        raise AccountUnavailable("this conversation's account cannot send right now; see Settings")
    now = datetime.now(UTC)
    if not reply_window.is_open(chat.last_inbound_at, now):
        raise WindowClosed(
            "the customer last wrote more than 24 hours ago; Meta allows reactions only within 24 hours"
        )
    staff = await session.get(User, user_id)
    sender_name = (staff.display_name or staff.email) if staff else "staff"
    new_id = uuid.uuid4()
    session.add(
        ChatMessage(
            id=new_id,
            tenant_id=tenant_id,
            chat_id=chat_id,
            channel=chat.channel,
            direction="outbound",
            sender_name=sender_name,
            kind="reaction",
            text=emoji,  # the sender sends text as the emoji of a reaction
            reaction_emoji=emoji,
            status="queued",
            status_at=now,
            reply_to_message_id=target.id,
            reply_to_external_id=target.external_message_id,
            sent_by_user_id=user_id,
            created_at=now,
        )
    )
    await session.flush()
    command = SendReply(tenant_id=tenant_id, message_id=new_id, channel=chat.channel)  # type: ignore[arg-type]
    outbox = Outbox(message_id=new_id, kind=OUTBOX_KIND, payload=command.model_dump(mode="json"))
    session.add(outbox)
    await session.flush()
    await record(
        session,
        actor_of(user),
        "reaction.sent",
        target_type="conversation",
        target_id=chat_id,
        details={"message_id": str(new_id), "reacted_to": str(target.id), "emoji": emoji},
    )
    return QueuedReply(
        message_id=new_id,
        chat_id=chat_id,
        tenant_id=tenant_id,
        channel=chat.channel,
        outbox_id=outbox.id,
        command=command,
        text=emoji,
        sender_name=sender_name,
        reply_to_message_id=target.id,
        created_at=now,
    )


async def react(
    deps: InboxDeps, user: Principal, chat_id: uuid.UUID, message_id: uuid.UUID, emoji: str
) -> QueuedReply:
    """Queue (committed), publish, and tell live inboxes."""
    async with deps.registry.begin(user.tenant_id) as session:
        queued = await queue_reaction(session, user=user, chat_id=chat_id, message_id=message_id, emoji=emoji)
    log.info("reaction_queued", tenant_id=str(user.tenant_id), chat_id=str(chat_id), channel=queued.channel)
    await publish_and_announce(deps, user.tenant_id, chat_id, queued, kind="reaction")
    return queued


class ReactionIn(BaseModel):
    emoji: str = Field(min_length=1, max_length=32)


router = APIRouter(tags=["messages"])


@router.post(
    "/api/conversations/{chat_id}/messages/{message_id}/reactions",
    status_code=202,
    responses={404: {}, 409: {}, 422: {}},
)
async def add_reaction(
    chat_id: uuid.UUID, message_id: uuid.UUID, body: ReactionIn, user: CurrentUser, deps: Deps
) -> Any:
    """React to a customer's WhatsApp message; 422 ``reactions_unsupported`` on Messenger/Instagram."""
    try:
        queued = await react(deps, user, chat_id, message_id, body.emoji)
    except ChatNotFound as exc:
        detail = "no such message" if isinstance(exc, MessageNotFound) else "no such conversation"
        return JSONResponse({"detail": detail}, status_code=404)
    except ReplyRefused as exc:
        return JSONResponse({"detail": str(exc), "reason": exc.reason}, status_code=refusal_status(exc))
    return queued.to_dict() | {"kind": "reaction", "emoji": queued.text}


@router.post("/ui/conversations/{chat_id}/messages/{message_id}/reactions", include_in_schema=False)
async def reaction_submit(
    request: Request,
    chat_id: uuid.UUID,
    message_id: uuid.UUID,
    user: PageUser,
    deps: Deps,
    emoji: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """The conversation view's reaction buttons: re-render the messages (with an alert if refused)."""
    _require_csrf(deps, user, request, csrf_token)
    error = None
    try:
        await react(deps, user, chat_id, message_id, emoji)
    except ChatNotFound:
        return HTMLResponse("<p role='alert'>No such message.</p>", status_code=404)
    except ReplyRefused as exc:
        error = str(exc)
    thread = await _thread_context(deps, user, chat_id)
    return render(request, "_messages.html", {"thread": thread, "error": error})
