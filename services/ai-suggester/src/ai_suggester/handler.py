"""Answer ``SuggestReply`` requests: context from the tenant's database, a draft, a stored record, a reply."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ai_suggester.context import Budget, SuggestContext, load_context, over_budget
from ai_suggester.local import suggest_locally
from ai_suggester.model import ModelClient, ModelFailed
from ai_suggester.prompt import INSTRUCTIONS, build_messages
from ai_suggester.sanitize import clean_text, leaks
from omni_common.broker.consumer import Delivery
from omni_common.broker.publisher import Publisher
from omni_common.contracts import encode
from omni_common.contracts.assistant import SuggestionReply, SuggestReply
from omni_common.db.tenant_models import Suggestion

log = structlog.get_logger(__name__)

SessionFn = Callable[[uuid.UUID], AbstractAsyncContextManager[AsyncSession]]
OFF = "AI suggestions are off"
NONE = "no suggestion"
LOCAL = "local"
# Markers that only the instructions or the reference wrapper contain: never in a draft.
_MARKERS = ("<restaurant_data", "</restaurant_data", "<customer_messages", "</customer_messages")


@dataclass(frozen=True)
class Draft:
    """What the suggester produced: text, or the reason there is none."""

    text: str | None
    source: str
    tokens: int = 0
    reason: str | None = None


def check_output(raw: str, max_chars: int) -> str | None:
    """The cleaned draft, or None when it repeats the instructions or the prompt's wrapper."""
    text = clean_text(raw, max_chars)
    lowered = raw.casefold()
    if (
        not text
        or leaks(raw, INSTRUCTIONS)
        or leaks(text, INSTRUCTIONS)
        or any(m in lowered for m in _MARKERS)
    ):
        return None
    return text


class SuggestHandler:
    """The ai.requests handler; collaborators are passed in by ``main`` (or a test)."""

    def __init__(
        self,
        *,
        session: SessionFn,
        begin: SessionFn,
        publisher: Publisher,
        model: ModelClient | None,
        budget: Budget,
        max_chars: int = 1000,
    ) -> None:
        self._session = session
        self._begin = begin
        self._publisher = publisher
        self._model = model
        self._budget = budget
        self._max_chars = max_chars

    async def __call__(self, request: SuggestReply, delivery: Delivery) -> None:
        """Answer one request on ``delivery.reply_to``; a failed draft is an answer too, never a raise."""
        remaining = (request.deadline - datetime.now(UTC)).total_seconds()
        if remaining <= 0:
            log.info("suggestion_expired")
            return  # nobody waits for it any more
        try:
            reply = await asyncio.wait_for(self._answer(request), remaining)
        except TimeoutError:
            reply = SuggestionReply(request_id=request.request_id, reason=NONE)
        except Exception as exc:  # a failed suggestion must not stop the inbox
            log.error("suggestion_failed", error=type(exc).__name__)
            reply = SuggestionReply(request_id=request.request_id, reason=NONE)
        await self._reply(delivery, reply)

    async def _answer(self, request: SuggestReply) -> SuggestionReply:
        async with self._session(request.tenant_id) as session:
            context = await load_context(session, request.chat_id)
            if context is None:
                return SuggestionReply(request_id=request.request_id, reason=NONE)
            if not context.document.enabled:
                return SuggestionReply(request_id=request.request_id, reason=OFF)
            limited = await over_budget(session, self._budget, model=self._model is not None)
        source = self._model.model if self._model else LOCAL
        draft = Draft(None, source, reason="budget") if limited else await self._draft(context)
        async with self._begin(request.tenant_id) as session:
            row = Suggestion(
                chat_id=request.chat_id,
                requested_by=request.user_id,
                source=draft.source,
                text=draft.text,
                reason=draft.reason,
                tokens=draft.tokens,
            )
            session.add(row)
            await session.flush()
            suggestion_id = row.id
        log.info("suggestion_drafted", source=draft.source, ok=draft.text is not None, reason=draft.reason)
        if draft.text is None:
            return SuggestionReply(request_id=request.request_id, suggestion_id=suggestion_id, reason=NONE)
        return SuggestionReply(
            request_id=request.request_id, suggestion_id=suggestion_id, text=draft.text, source=draft.source
        )

    async def _draft(self, context: SuggestContext) -> Draft:
        if self._model is None:
            local = suggest_locally(context.last_customer_text, context.document)
            return Draft(clean_text(local.text, self._max_chars), LOCAL)
        try:
            answer = await self._model.complete(build_messages(context.document, context.history))
        except ModelFailed as exc:
            return Draft(None, self._model.model, reason=f"model: {exc}")
        text = check_output(answer.text, self._max_chars)
        if text is None:
            log.warning("suggestion_rejected", reason="output_check")
            return Draft(None, self._model.model, answer.tokens, reason="rejected by output check")
        return Draft(text, self._model.model, answer.tokens)

    async def _reply(self, delivery: Delivery, reply: SuggestionReply) -> None:
        if not delivery.reply_to:
            return
        await self._publisher.publish(
            delivery.reply_to,
            encode(reply),
            message_id=str(uuid.uuid4()),
            correlation_id=delivery.correlation_id,
            exchange="",
            mandatory=False,  # the asker may be gone (timed out): that is fine
        )
