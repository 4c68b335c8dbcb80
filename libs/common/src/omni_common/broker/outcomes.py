"""Handler outcomes as exceptions: the consumer maps them to retry, dead-letter or ack.

    BrokerError
     ├── PublishError   the broker did not confirm a publish (nack, unroutable, timeout, link down)
     ├── Retry          transient failure: try again later through the delay queues
     └── DeadLetter     permanent failure: park the message in its stage's ``.dlq`` now

Any other exception raised by a handler is treated like ``Retry("error:<ExceptionClass>")``.
"""

from __future__ import annotations

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
