"""AI suggestions: the tenant's assistant document, and the request/reply pair of the suggester RPC."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from omni_common.contracts.base import Contract
from omni_common.domain.channels import Channel

# Caps keep one tenant's knowledge from turning into an unbounded prompt.
SHORT = 200
LONG = 2000
DRAFT = 4000
# An ISO 639-1 code ("en", "de"): the language knowledge is written in, or a customer writes in.
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2}$")]
Action = Literal["suggest", "rewrite", "shorten", "translate"]
ACTIONS: tuple[Action, ...] = ("suggest", "rewrite", "shorten", "translate")


class Profile(BaseModel):
    """The restaurant as customers should know it."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(default="", max_length=SHORT)
    address: str = Field(default="", max_length=SHORT)
    phone: str = Field(default="", max_length=SHORT)
    opening_hours: str = Field(default="", max_length=LONG)
    policies: str = Field(default="", max_length=LONG)  # reservations, delivery/takeaway, dietary notes
    # The restaurant's main language: what knowledge without its own ``language`` is written in,
    # and the language of a conversation whose customer's language cannot be told.
    language: LanguageCode = "en"


class MenuItem(BaseModel):
    """One dish or drink."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(max_length=SHORT)
    description: str = Field(default="", max_length=LONG)
    price: str | float | None = None
    allergens: list[str] = Field(default_factory=list, max_length=30)
    tags: list[str] = Field(default_factory=list, max_length=30)
    language: LanguageCode | None = None  # None: the profile's language


class FaqEntry(BaseModel):
    """A question customers ask, and the restaurant's answer."""

    model_config = ConfigDict(extra="allow")

    question: str = Field(max_length=LONG)
    answer: str = Field(max_length=LONG)
    language: LanguageCode | None = None  # None: the profile's language


class Tone(BaseModel):
    """The brand voice: a short description and a few example replies."""

    model_config = ConfigDict(extra="allow")

    description: str = Field(default="", max_length=LONG)
    examples: list[str] = Field(default_factory=list, max_length=10)


class FallbackSentences(BaseModel):
    """The built-in suggester's sentences in one language; empty fields keep the built-in default.

    ``{hours}``, ``{items}``, ``{name}``, ``{allergens}``, ``{phone}`` and ``{address}`` are filled in.
    """

    model_config = ConfigDict(extra="forbid")

    hi: str = Field(default="", max_length=SHORT)
    hi_formal: str = Field(default="", max_length=SHORT)
    bye: str = Field(default="", max_length=SHORT)
    bye_formal: str = Field(default="", max_length=SHORT)
    no_answer: str = Field(default="", max_length=LONG)  # nothing in the knowledge answers it
    other_language: str = Field(default="", max_length=SHORT)  # the answer exists in another language
    hours: str = Field(default="", max_length=SHORT)
    menu: str = Field(default="", max_length=SHORT)
    allergens: str = Field(default="", max_length=SHORT)
    no_allergens: str = Field(default="", max_length=SHORT)
    phone: str = Field(default="", max_length=SHORT)
    address: str = Field(default="", max_length=SHORT)


class AssistantDocument(BaseModel):
    """``GET/PUT /api/assistant``: AI on/off (off by default) and the knowledge suggestions may use.

    Knowledge may be written in several languages: each FAQ entry and dish carries its own
    ``language`` (default: ``profile.language``)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    profile: Profile = Field(default_factory=Profile)
    menu: list[MenuItem] = Field(default_factory=list, max_length=300)
    faq: list[FaqEntry] = Field(default_factory=list, max_length=200)
    tone: Tone = Field(default_factory=Tone)
    # Owner-edited wording of the built-in suggester, per language code (see ``FallbackSentences``).
    fallback_sentences: dict[LanguageCode, FallbackSentences] = Field(default_factory=dict, max_length=30)


class SuggestReply(Contract):
    """Draft a reply for ``chat_id`` (inbox-api -> ai-suggester, answered on the message's reply-to).

    ``action`` ``suggest`` drafts the next reply; ``rewrite`` (in the brand tone), ``shorten`` and
    ``translate`` (into the customer's language) work on the owner's own ``draft``. Either way the
    answer is a draft for the composer: nothing is ever sent by the suggester."""

    type: Literal["ai.suggest"] = "ai.suggest"
    version: Literal[1] = 1
    request_id: uuid.UUID
    tenant_id: uuid.UUID
    chat_id: uuid.UUID
    user_id: uuid.UUID
    channel: Channel
    deadline: AwareDatetime  # the asker stops waiting then; later work is wasted
    action: Action = "suggest"
    draft: str | None = Field(default=None, max_length=DRAFT)  # the owner's text, for the other actions


class SuggestionReply(Contract):
    """The answer: a draft (never sent by anyone but a human) or the reason there is none.

    ``limited`` with ``retry_after_s``: the tenant's AI limit is reached ("try again in 40 s").
    ``note``: a plain sentence for the owner about this draft (e.g. the model did not answer and
    the built-in suggester wrote it, or why it could not do what was asked)."""

    type: Literal["ai.suggestion"] = "ai.suggestion"
    version: Literal[1] = 1
    request_id: uuid.UUID
    suggestion_id: uuid.UUID | None = None
    text: str | None = None
    source: str | None = None  # "local" or the model's name
    reason: str | None = None
    action: Action = "suggest"
    language: str | None = None  # the customer's language the draft is written for (ISO 639-1)
    limited: bool = False
    retry_after_s: int | None = None
    note: str | None = None
