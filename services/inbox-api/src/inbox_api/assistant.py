"""AI suggestions in the inbox: the assistant settings API, asking the suggester, and the audit trail."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from fastapi import APIRouter, HTTPException
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.audit_api import write_assistant
from inbox_api.auth import CurrentUser, Deps, Principal
from inbox_api.deps import InboxDeps
from omni_common.contracts import decode, encode
from omni_common.contracts.assistant import AssistantDocument, SuggestionReply, SuggestReply
from omni_common.contracts.routing import AI_REQUESTS, routing_key
from omni_common.db.tenant_models import Chat, Suggestion, User
from omni_common.tenancy.assistant import read_document

log = structlog.get_logger(__name__)
REPLY_TO = "amq.rabbitmq.reply-to"  # RabbitMQ direct reply-to: no reply queue to declare or clean up
OFF = "AI suggestions are off"
NONE = "no suggestion"


class SuggestionClient:
    """RPC over RabbitMQ: publish a ``SuggestReply``, wait (bounded) for its ``SuggestionReply``."""

    def __init__(self, connection: AbstractConnection, *, exchange: str, timeout_s: float = 20.0) -> None:
        self._connection = connection
        self._exchange_name = exchange
        self.timeout_s = timeout_s
        self._channel: AbstractChannel | None = None
        self._waiting: dict[str, asyncio.Future[SuggestionReply]] = {}
        self._lock = asyncio.Lock()

    async def _ensure(self) -> AbstractChannel:
        async with self._lock:
            if self._channel is None or self._channel.is_closed:
                # Direct reply-to needs the consumer (no-ack) on the very channel that publishes.
                channel = await self._connection.channel(publisher_confirms=False)
                queue = await channel.get_queue(REPLY_TO, ensure=False)
                await queue.consume(self._on_reply, no_ack=True)
                self._channel = channel
            return self._channel

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._waiting.pop(message.correlation_id or "", None)
        if future is None or future.done():
            return  # too late: the caller has already answered "no suggestion"
        try:
            future.set_result(decode(SuggestionReply, message.body))
        except ValidationError:
            future.set_result(SuggestionReply(request_id=uuid.uuid4(), reason=NONE))

    async def ask(self, request: SuggestReply) -> SuggestionReply | None:
        """The suggester's answer, or None on timeout or broker trouble."""
        key = str(request.request_id)
        future: asyncio.Future[SuggestionReply] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        try:
            async with asyncio.timeout(self.timeout_s):
                channel = await self._ensure()
                exchange = await channel.get_exchange(self._exchange_name, ensure=False)
                await exchange.publish(
                    aio_pika.Message(
                        encode(request),
                        message_id=key,
                        correlation_id=key,
                        reply_to=REPLY_TO,
                        content_type="application/json",
                    ),
                    routing_key=routing_key(AI_REQUESTS, request.channel),
                )
                return await future
        except (TimeoutError, aio_pika.exceptions.AMQPError, ConnectionError) as exc:
            log.warning("suggestion_unanswered", error=type(exc).__name__)
            return None
        finally:
            self._waiting.pop(key, None)

    async def close(self) -> None:
        """Close the RPC channel (the connection belongs to the caller)."""
        channel, self._channel = self._channel, None
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await channel.close()


async def mark_used(
    session: AsyncSession,
    suggestion_id: uuid.UUID,
    *,
    chat_id: uuid.UUID,
    message_id: uuid.UUID,
    sent_text: str,
) -> str | None:
    """Record that a suggestion was sent, as drafted or edited (in the reply's own transaction).

    Returns the outcome ("sent_as_is" or "edited"), None when nothing was recorded."""
    row = await session.get(Suggestion, suggestion_id)
    if row is None or row.chat_id != chat_id or row.text is None or row.outcome is not None:
        return None  # unknown, another chat's, or already recorded: the reply itself still goes out
    outcome = "sent_as_is" if sent_text.strip() == row.text.strip() else "edited"
    await session.execute(
        update(Suggestion)
        .where(Suggestion.id == suggestion_id)
        .values(outcome=outcome, used_message_id=message_id, used_at=datetime.now(UTC))
    )
    return outcome


async def suggest(deps: InboxDeps, user: Principal, chat_id: uuid.UUID) -> dict[str, Any] | None:
    """Ask for a draft of ``chat_id``'s next reply; None when this tenant has no such chat."""
    async with deps.registry.session(user.tenant_id) as session:
        chat = await session.get(Chat, chat_id)
        if chat is None:
            return None
        enabled = (await read_document(session)).enabled
    if not enabled:
        return {"text": None, "reason": OFF}
    if deps.suggester is None:
        return {"text": None, "reason": NONE}
    request = SuggestReply(
        request_id=uuid.uuid4(),
        tenant_id=user.tenant_id,
        chat_id=chat_id,
        user_id=user.user_id,
        channel=chat.channel,  # type: ignore[arg-type]
        deadline=datetime.now(UTC) + timedelta(seconds=deps.suggester.timeout_s),
    )
    reply = await deps.suggester.ask(request)
    if reply is None or reply.text is None:
        return {"text": None, "reason": (reply.reason if reply else None) or NONE}
    return {
        "text": reply.text,
        "suggestion_id": str(reply.suggestion_id) if reply.suggestion_id else None,
        "source": reply.source,
        "ai_generated": True,
    }


router = APIRouter(tags=["assistant"])


@router.get("/api/assistant")
async def get_assistant(user: CurrentUser, deps: Deps) -> AssistantDocument:
    """The tenant's AI settings and knowledge (AI is off until an owner or manager turns it on)."""
    async with deps.registry.session(user.tenant_id) as session:
        return await read_document(session)


@router.put("/api/assistant")
async def put_assistant(body: AssistantDocument, user: CurrentUser, deps: Deps) -> AssistantDocument:
    """Replace the tenant's AI settings and knowledge."""
    async with deps.registry.begin(user.tenant_id) as session:
        await write_assistant(session, user, body)
    log.info("assistant_updated", enabled=body.enabled, menu=len(body.menu), faq=len(body.faq))
    return body


@router.post("/api/conversations/{chat_id}/suggestions", responses={404: {}})
async def suggestions(chat_id: uuid.UUID, user: CurrentUser, deps: Deps) -> dict[str, Any]:
    """A suggested reply ``{"text": ...}`` (``null`` with a reason when none); never sent by itself."""
    found = await suggest(deps, user, chat_id)
    if found is None:
        raise HTTPException(404, "no such conversation")
    return found


@router.get("/api/assistant/suggestions")
async def suggestion_log(user: CurrentUser, deps: Deps, limit: int = 100) -> list[dict[str, Any]]:
    """Recent suggestions for review: who asked, when, from what, the text, and whether it was used."""
    query = (
        select(Suggestion, User.email)
        .outerjoin(User, User.id == Suggestion.requested_by)
        .order_by(Suggestion.requested_at.desc())
        .limit(max(1, min(limit, 500)))
    )
    async with deps.registry.session(user.tenant_id) as session:
        rows = (await session.execute(query)).all()
    return [
        {
            "id": str(s.id),
            "chat_id": str(s.chat_id),
            "requested_by": email,
            "requested_at": s.requested_at.isoformat(),
            "source": s.source,
            "text": s.text,
            "reason": s.reason,
            "outcome": s.outcome,
            "used_message_id": str(s.used_message_id) if s.used_message_id else None,
        }
        for s, email in rows
    ]
