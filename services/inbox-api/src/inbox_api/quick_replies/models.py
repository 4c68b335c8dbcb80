"""A quick reply as created or changed through the API or the settings page."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, StringConstraints

# Same rule as the table's CHECK, so a bad shortcut is a clear 422 rather than a database error.
Shortcut = Annotated[
    str,
    BeforeValidator(lambda v: v.strip().lower().removeprefix("/") if isinstance(v, str) else v),
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$"),
]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4096)]


class QuickReplyIn(BaseModel):
    shortcut: Shortcut
    body: Body


class QuickReplyPatch(BaseModel):
    shortcut: Shortcut | None = None
    body: Body | None = None
