"""A label as created or changed through the API or the settings page."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, field_validator

HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_COLOR = "#6b7280"
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


def _color(value: str | None) -> str | None:
    if value is None:
        return None
    if not HEX.match(value.strip()):
        raise ValueError("color must be #rrggbb")
    return value.strip().lower()


class LabelIn(BaseModel):
    name: Name
    color: str = Field(default=DEFAULT_COLOR, description="#rrggbb")

    _check_color = field_validator("color")(_color)


class LabelPatch(BaseModel):
    name: Name | None = None
    color: str | None = Field(default=None, description="#rrggbb")

    _check_color = field_validator("color")(_color)
