"""A note as posted to the JSON API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, StringConstraints

NOTE_MAX = 4096
NoteBody = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NOTE_MAX)]


class NoteIn(BaseModel):
    body: NoteBody
