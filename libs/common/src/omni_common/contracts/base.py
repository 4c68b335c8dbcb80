"""Base of every contract and its wire encoding (JSON, bytes as base64)."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ConfigDict

C = TypeVar("C", bound="Contract")


class Contract(BaseModel):
    """A message on the broker: immutable, strict about unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_bytes="base64", val_json_bytes="base64")


def encode(message: Contract) -> bytes:
    """Serialize a contract for the wire."""
    return message.model_dump_json().encode()


def decode(model: type[C], body: bytes) -> C:
    """Parse and validate a wire message as ``model`` (raises ``pydantic.ValidationError``)."""
    return model.model_validate_json(body)
