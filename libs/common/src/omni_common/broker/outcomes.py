"""Handler outcomes as exceptions: the consumer maps them to retry, dead-letter or ack.

    BrokerError
     ├── PublishError   the broker did not confirm a publish (nack, unroutable, timeout, link down)
     ├── Retry          transient failure: try again later through the delay queues
     ├── DeadLetter     permanent failure: park the message in its stage's ``.dlq`` now
     └── DeadLetterParts  some parts of a message failed for good, the rest is committed: park each
                          failed part alone in the stage's ``.dlq``, then ack the message

Any other exception raised by a handler is treated like ``Retry("error:<ExceptionClass>")``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omni_common.errors import OmniError


class BrokerError(OmniError):
    """Base of the broker plumbing's errors and outcomes."""


class PublishError(BrokerError):
    """The broker did not take responsibility for a message (ingress answers 503)."""


class _Outcome(BrokerError):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class Retry(_Outcome):
    """Transient failure: retry the message after the next delay, dead-letter it when retries are spent.

    Args:
        reason: short machine-readable cause, e.g. ``"tenant_db_unavailable"``.
        detail: human-readable context (never secrets or the body).
    """


class DeadLetter(_Outcome):
    """Permanent failure: move the message to its stage's dead-letter queue without retrying.

    Args:
        reason: short machine-readable cause, e.g. ``"invalid_payload"``.
        detail: human-readable context (never secrets or the body).
    """


@dataclass(frozen=True)
class Part:
    """One part of a message dead-lettered on its own: its own body, id and reason."""

    body: bytes
    message_id: str
    correlation_id: str | None
    reason: str
    detail: str


class DeadLetterParts(BrokerError):
    """Some parts of a message (events of a batch) cannot be handled, ever; the others are committed.

    The consumer parks each part alone in the stage's dead-letter queue, with its reason, and acks
    the message once they are all confirmed. Raise it only when nothing else of the message needs
    another try: a transient failure of any part is a ``Retry`` of the whole message instead.
    """

    def __init__(self, parts: Sequence[Part]) -> None:
        if not parts:
            raise ValueError("DeadLetterParts needs at least one part")
        super().__init__(", ".join(sorted({p.reason for p in parts})))
        self.parts = tuple(parts)
