"""The suggester's own settings: the default AI limits per tenant (the operator overrides per tenant).

``main`` reads them once at start-up (``AiSettings().budget()``) and passes the budget in.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ai_suggester.context import Budget


class AiSettings(BaseSettings):
    """``OMNI_AI_SUGGESTIONS_PER_MINUTE`` and ``OMNI_AI_TOKENS_PER_DAY``."""

    model_config = SettingsConfigDict(env_prefix="OMNI_AI_", env_file=".env", extra="ignore")

    suggestions_per_minute: int = Field(default=30, ge=1)  # per tenant, all staff and actions together
    tokens_per_day: int = Field(default=200_000, ge=0)  # per tenant, model tokens (UTC day)

    def budget(self) -> Budget:
        """The default budget of every tenant."""
        return Budget(requests_per_minute=self.suggestions_per_minute, tokens_per_day=self.tokens_per_day)
