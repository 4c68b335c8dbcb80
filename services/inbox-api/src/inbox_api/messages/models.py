"""Requests that send something to a customer."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field


class ReplyIn(BaseModel):
    text: str = Field(max_length=8192)
    reply_to: uuid.UUID | None = None
    suggestion_id: uuid.UUID | None = None  # the AI draft this reply started from, if any


class ReactionIn(BaseModel):
    emoji: str = Field(min_length=1, max_length=32)
