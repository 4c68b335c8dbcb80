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

from ai_suggester import actions
from ai_suggester.context import LIMITED, Budget, BudgetState, SuggestContext, budget_state, load_context
from ai_suggester.language import conversation_language, detect, warm_up
from ai_suggester.local import suggest_locally
from ai_suggester.model import ModelClient, ModelFailed
from ai_suggester.prompt import HIDDEN_TEXT, build_messages
from ai_suggester.retrieval import Hit, retrieve
from ai_suggester.sanitize import clean_text, leaks
from omni_common.broker.consumer import Delivery
from omni_common.broker.publisher import Publisher
from omni_common.contracts import encode
from omni_common.contracts.assistant import SuggestionReply, SuggestReply
from omni_common.db.tenant_models import Suggestion
from omni_common.tenancy.assistant_knowledge import knowledge_is_current, rebuild_knowledge

log = structlog.get_logger(__name__)

SessionFn = Callable[[uuid.UUID], AbstractAsyncContextManager[AsyncSession]]
OFF = "AI suggestions are off"
NONE = "no suggestion"
NO_DRAFT = "There is no draft to work on: write something first."
LOCAL = "local"
BUILT_IN = "This is the simple built-in suggestion."
MODEL_FAILED = "The AI model did not answer."
MODEL_SLOW = "The AI model took too long to answer."
TOKENS_USED_UP = "Today's AI model budget is used up (it is back in {when})."
# Markers that only the instructions or the prompt's wrappers contain: never in a draft.
_MARKERS = (
    "<restaurant_data", "</restaurant_data", "<customer_messages", "</customer_messages",
    "<owner_draft", "</owner_draft",
)  # fmt: skip
RESERVE_S = 1.0  # of the asker's deadline, kept for the built-in suggester, the record and the reply
MIN_MODEL_S = 0.5  # less time than this left: the model is not even asked


@dataclass(frozen=True)
class Draft:
    """What the suggester produced: text, or the reason there is none; and a note for the owner."""

    text: str | None
    source: str
    tokens: int = 0
    reason: str | None = None
    note: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


def check_output(raw: str, max_chars: int) -> str | None:
    """The cleaned draft, or None when it repeats the instructions or the prompt's wrapper."""
    text = clean_text(raw, max_chars)
    lowered = raw.casefold()
    if not text or leaks(raw, HIDDEN_TEXT) or leaks(text, HIDDEN_TEXT) or any(m in lowered for m in _MARKERS):
        return None
    return text


def wait_words(seconds: int) -> str:
    """ "40 s", "12 min", "3 h": how long, in words an owner reads at a glance."""
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{round(seconds / 3600)} h"


def limited_reason(retry_after_s: int) -> str:
    """The reason of a limited request, as the inbox may show it."""
    return f"AI limit reached, try again in {wait_words(retry_after_s)}"


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
        warm_up()  # the language detector's models, off the event loop

    async def __call__(self, request: SuggestReply, delivery: Delivery) -> None:
        """Answer one request on ``delivery.reply_to``; a failed draft is an answer too, never a raise."""
        remaining = (request.deadline - datetime.now(UTC)).total_seconds()
        if remaining <= 0:
            log.info("suggestion_expired", tenant_id=str(request.tenant_id))
            return  # nobody waits for it any more
        with structlog.contextvars.bound_contextvars(tenant_id=str(request.tenant_id), action=request.action):
            try:
                reply = await asyncio.wait_for(self._answer(request), remaining)
            except TimeoutError:
                reply = SuggestionReply(request_id=request.request_id, reason=NONE, action=request.action)
            except Exception as exc:  # a failed suggestion must not stop the inbox
                log.error("suggestion_failed", error=type(exc).__name__)
                reply = SuggestionReply(request_id=request.request_id, reason=NONE, action=request.action)
            await self._reply(delivery, reply)

    async def _answer(self, request: SuggestReply) -> SuggestionReply:
        nothing = SuggestionReply(request_id=request.request_id, reason=NONE, action=request.action)
        if request.action != "suggest" and not (request.draft or "").strip():
            return nothing.model_copy(update={"reason": NO_DRAFT})
        async with self._session(request.tenant_id) as session:
            context = await load_context(session, request.chat_id)
            if context is None:
                return nothing
            if not context.document.enabled:
                return nothing.model_copy(update={"reason": OFF})
            state = await budget_state(session, self._budget, model=self._model is not None)
            fresh = state.limited or await knowledge_is_current(session, context.document)
        if state.limited:
            retry = state.retry_after_s or 60
            await self._record(request, Draft(None, LOCAL, reason=LIMITED), None)
            log.info("suggestion_limited", retry_after_s=retry)
            return nothing.model_copy(
                update={"reason": limited_reason(retry), "limited": True, "retry_after_s": retry}
            )
        if not fresh:  # saved by an older writer, or just migrated: index it now
            async with self._begin(request.tenant_id) as session:
                await rebuild_knowledge(session, context.document)
        doc = context.document
        language = conversation_language(context.customer_messages, doc.profile.language)
        hits = (
            await self._retrieve(request, context, language)
            if request.action in ("suggest", "rewrite")
            else []
        )
        draft = await self._draft(request, context, hits, language, state)
        suggestion_id = await self._record(request, draft, language)
        log.info(
            "suggestion_drafted", source=draft.source, ok=draft.text is not None, reason=draft.reason,
            language=language, entries=len(hits),
        )  # fmt: skip
        back_in = state.tokens_back_in_s if state.tokens_exhausted else None
        return SuggestionReply(
            request_id=request.request_id,
            suggestion_id=suggestion_id,
            text=draft.text,
            source=draft.source if draft.text is not None else None,
            reason=None if draft.text is not None else NONE,
            action=request.action,
            language=language,
            retry_after_s=back_in,
            note=draft.note,
        )

    async def _retrieve(self, request: SuggestReply, context: SuggestContext, language: str) -> list[Hit]:
        # The latest message only: an earlier, answered question must not answer a new one.
        question = context.last_customer_text
        if not question.strip():
            return []
        async with self._session(request.tenant_id) as session:
            return await retrieve(session, question, language)

    async def _draft(
        self,
        request: SuggestReply,
        context: SuggestContext,
        hits: list[Hit],
        language: str,
        state: BudgetState,
    ) -> Draft:
        problem: str | None = None
        if self._model is not None and state.tokens_exhausted:
            problem = TOKENS_USED_UP.format(when=wait_words(state.tokens_back_in_s or 0))
        elif self._model is not None:
            left = (request.deadline - datetime.now(UTC)).total_seconds() - RESERVE_S
            messages = build_messages(
                context.document, context.history, hits=hits, language=language,
                action=request.action, draft=request.draft,
            )  # fmt: skip
            try:
                if left < MIN_MODEL_S:
                    raise TimeoutError
                answer = await asyncio.wait_for(self._model.complete(messages), left)
            except TimeoutError:
                problem = MODEL_SLOW
                log.warning("model_too_slow", budget_s=round(left, 2))
            except ModelFailed:
                problem = MODEL_FAILED
            else:
                model, used = (
                    self._model.model,
                    (answer.tokens, answer.prompt_tokens, answer.completion_tokens),
                )
                text = check_output(answer.text, self._max_chars)
                if text is None:
                    log.warning("suggestion_rejected", reason="output_check")
                    return Draft(None, model, used[0], "rejected by output check", None, used[1], used[2])
                return Draft(text, model, used[0], None, None, used[1], used[2])
        return self._local(request, context, hits, language, problem)

    def _local(
        self,
        request: SuggestReply,
        context: SuggestContext,
        hits: list[Hit],
        language: str,
        problem: str | None,
    ) -> Draft:
        doc = context.document
        if request.action == "suggest":
            local = suggest_locally(context.last_customer_text, doc, hits, language)
            note = f"{problem} {BUILT_IN}" if problem else None
            return Draft(clean_text(local.text, self._max_chars), LOCAL, note=note)
        draft = request.draft or ""
        if request.action == "translate":
            done = actions.translate(draft, doc, language)
        else:  # rewrite and shorten keep the draft's own language
            own = detect(draft, language) or language
            done = (actions.rewrite if request.action == "rewrite" else actions.shorten)(draft, doc, own)
        note = f"{problem} {done.note}" if problem else done.note
        text = clean_text(done.text, self._max_chars) if done.text else None
        return Draft(text, LOCAL, reason=None if text else "not possible without a model", note=note)

    async def _record(self, request: SuggestReply, draft: Draft, language: str | None) -> uuid.UUID:
        async with self._begin(request.tenant_id) as session:
            row = Suggestion(
                chat_id=request.chat_id,
                requested_by=request.user_id,
                source=draft.source,
                text=draft.text,
                reason=draft.reason,
                tokens=draft.tokens,
                action=request.action,
                language=language,
                note=draft.note,
                prompt_tokens=draft.prompt_tokens,
                completion_tokens=draft.completion_tokens,
            )
            session.add(row)
            await session.flush()
            return row.id

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
