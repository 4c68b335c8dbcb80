"""AI suggestions: the tenant's assistant document, and the request/reply pair of the suggester RPC."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from omni_common.contracts.base import Contract
from omni_common.domain.channels import Channel

# Caps keep one tenant's knowledge from turning into an unbounded prompt.
SHORT = 200
LONG = 2000


class Profile(BaseModel):
    """The restaurant as customers should know it."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(default="", max_length=SHORT)
    address: str = Field(default="", max_length=SHORT)
    phone: str = Field(default="", max_length=SHORT)
    opening_hours: str = Field(default="", max_length=LONG)
    policies: str = Field(default="", max_length=LONG)  # reservations, delivery/takeaway, dietary notes


class MenuItem(BaseModel):
    """One dish or drink."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(max_length=SHORT)
    description: str = Field(default="", max_length=LONG)
    price: str | float | None = None
    allergens: list[str] = Field(default_factory=list, max_length=30)
    tags: list[str] = Field(default_factory=list, max_length=30)


class FaqEntry(BaseModel):
    """A question customers ask, and the restaurant's answer."""

    model_config = ConfigDict(extra="allow")

    question: str = Field(max_length=LONG)
    answer: str = Field(max_length=LONG)


class Tone(BaseModel):
    """The brand voice: a short description and a few example replies."""

    model_config = ConfigDict(extra="allow")

    description: str = Field(default="", max_length=LONG)
    examples: list[str] = Field(default_factory=list, max_length=10)


class AssistantDocument(BaseModel):
    """``GET/PUT /api/assistant``: AI on/off (off by default) and the knowledge suggestions may use."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    profile: Profile = Field(default_factory=Profile)
    menu: list[MenuItem] = Field(default_factory=list, max_length=300)
    faq: list[FaqEntry] = Field(default_factory=list, max_length=200)
    tone: Tone = Field(default_factory=Tone)


class SuggestReply(Contract):
    """Draft a reply for ``chat_id`` (inbox-api -> ai-suggester, answered on the message's reply-to)."""

    type: Literal["ai.suggest"] = "ai.suggest"
    version: Literal[1] = 1
    request_id: uuid.UUID
    tenant_id: uuid.UUID
    chat_id: uuid.UUID
    user_id: uuid.UUID
    channel: Channel
    deadline: AwareDatetime  # the asker stops waiting then; later work is wasted


class SuggestionReply(Contract):
    """The answer: a draft (never sent by anyone but a human) or the reason there is none."""

    type: Literal["ai.suggestion"] = "ai.suggestion"
    version: Literal[1] = 1
    request_id: uuid.UUID
    suggestion_id: uuid.UUID | None = None
    text: str | None = None
    source: str | None = None  # "local" or the model's name
    reason: str | None = None
