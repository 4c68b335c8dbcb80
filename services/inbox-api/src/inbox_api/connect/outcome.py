"""What the owner reads after "Connect": one line per ticked account (shared by both connect paths)."""

from __future__ import annotations

from dataclasses import dataclass

from inbox_api.errors import answer
from omni_common.errors import OmniError


@dataclass(frozen=True)
class Outcome:
    """One ticked item: connected (with what the subscription reads back) or why not."""

    label: str
    ok: bool
    detail: str


def refusal(exc: OmniError) -> str:
    """The plain sentence the API's error mapping gives ``exc`` (re-raised when it has none)."""
    found = answer(exc)
    if found is None:
        raise exc
    return found.sentence()
