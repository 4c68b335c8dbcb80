"""Requests that send something to a customer."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field


class TemplateParams(BaseModel):
    """The values a template is filled in with: ``body`` (a list in the order of ``{{1}}``,
    ``{{2}}``…, or an object by name for named templates), ``header`` (a text value, or for a media
    header its link ``https://…``), ``buttons`` (by button position: a URL button's ``{{1}}`` or a
    quick reply's payload; ``null`` for none)."""

    body: list[Any] | dict[str, Any] | None = None
    header: list[Any] | dict[str, Any] | str | None = None
    buttons: list[Any] | None = None


class TemplateIn(BaseModel):
    """A WhatsApp template by name and language (as ``GET /api/templates`` lists them)."""

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=16)
    parameters: TemplateParams = Field(default_factory=TemplateParams)


class ReplyIn(BaseModel):
    """A reply: ``text`` (with ``reply_to`` to quote a message), or a WhatsApp ``template``.

    Files are sent as ``multipart/form-data`` to the same route: ``file`` (repeat it for several;
    each goes as its own message) and optionally ``text`` (the caption) and ``reply_to``."""

    text: str | None = Field(default=None, max_length=8192)
    template: TemplateIn | None = None
    reply_to: uuid.UUID | None = None
    suggestion_id: uuid.UUID | None = None  # the AI draft this reply started from, if any


class ReactionIn(BaseModel):
    emoji: str = Field(min_length=1, max_length=32)


class NewConversationIn(BaseModel):
    """Writing first on WhatsApp: the number to write from, the customer's phone number (any
    formatting, with its country code) and the template to open with."""

    account_id: uuid.UUID
    to: str = Field(min_length=1, max_length=64)
    template: TemplateIn
