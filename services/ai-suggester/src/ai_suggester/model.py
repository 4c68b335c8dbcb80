"""Drafting with an OpenAI-compatible model: async client, timeouts, retries on 429/5xx."""

from __future__ import annotations

from dataclasses import dataclass

import openai
import structlog
from openai.types.chat import ChatCompletionMessageParam

log = structlog.get_logger(__name__)


class ModelFailed(Exception):
    """The model gave no usable answer (timeout, error, refusal, empty)."""


@dataclass(frozen=True)
class ModelAnswer:
    """The raw text of the model and the tokens it cost."""

    text: str
    tokens: int
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ModelClient:
    """One chat-completion call per suggestion; the openai client retries 429/5xx with backoff."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        timeout_s: float = 15.0,
        max_retries: int = 2,
        max_tokens: int = 400,
    ) -> None:
        self.model = model
        self._max_tokens = max_tokens
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key or "unused", timeout=timeout_s, max_retries=max_retries
        )

    async def complete(self, messages: list[ChatCompletionMessageParam]) -> ModelAnswer:
        """The model's draft; ``ModelFailed`` on any failure (logged without the prompt)."""
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=messages,
                max_tokens=self._max_tokens,
                temperature=0.3,
            )
        except openai.APIError as exc:
            # Never the prompt or the body: they carry customer messages.
            log.warning(
                "model_call_failed", error=type(exc).__name__, status=getattr(exc, "status_code", None)
            )
            raise ModelFailed(type(exc).__name__) from exc
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content or "") if choice else ""
        usage = response.usage
        tokens = usage.total_tokens if usage else 0
        if not text.strip():
            raise ModelFailed("empty")
        return ModelAnswer(
            text,
            tokens,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()
