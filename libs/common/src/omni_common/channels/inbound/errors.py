"""Errors of the inbound pipeline.

OmniError
 └── InboundError
      ├── MalformedDelivery   a whole webhook body cannot be split (router dead-letters it)
      └── MalformedEvent      one routed item cannot be understood (normalizer dead-letters it)
"""

from __future__ import annotations

from omni_common.errors import OmniError


class InboundError(OmniError):
    """A webhook payload does not match the platform's documented shape."""

    def __init__(self, reason_code: str, detail: str) -> None:
        super().__init__(f"{reason_code}: {detail}")
        self.reason_code = reason_code
        self.detail = detail


class MalformedDelivery(InboundError):
    """The delivery as a whole cannot be split into items (reason codes in ``split``)."""


class MalformedEvent(InboundError):
    """One routed item's payload cannot be turned into events."""
