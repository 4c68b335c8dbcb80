"""What to do about a failed send: pure decisions from the error class, the attempt and Meta's hints.

Retryable failures go back to ``queued`` and through the consumer's delayed-retry queues (growing
delays, ``OMNI_RETRY_DELAYS_MS``). Meta's hints are honoured by *holding* the pacer, not by picking a
queue: ``estimated_time_to_regain_access`` (usage headers) holds the whole account, 131056 holds that one
customer for 4^X s. A delivery that arrives while its key is held waits in-process up to
``max_pace_wait_s``; beyond that it goes back to the retry queue without calling Meta (using an attempt),
so a hold longer than the retry schedule ends the message ``failed`` ("retries spent"), never stuck.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from omni_common.graph import ErrorClass

# Meta's WhatsApp guidance for 131056 (pair rate): wait 4^X seconds after the X-th hit, bounded.
PAIR_BACKOFF_BASE_S = 4.0
PAIR_BACKOFF_MAX_S = 600.0
# Without a regain estimate, a throttled account pauses this long (the retry queue adds its own delay).
DEFAULT_THROTTLE_HOLD_S = 1.0


class Action(StrEnum):
    """Outcome of a failed attempt for the message."""

    RETRY = "retry"  # back to 'queued', through the delayed-retry queues
    FAIL = "fail"  # 'failed' with the reason
    UNKNOWN = "unknown"  # may have been sent: 'failed' with outcome_unknown, never resent blindly
    REAUTH = "reauth"  # token dead: account needs_reauth, fail its pending sends, notify owner


_FAIL_CLASSES = frozenset(
    {
        ErrorClass.OUTSIDE_WINDOW,
        ErrorClass.RECIPIENT_UNAVAILABLE,
        ErrorClass.PERMISSION,
        ErrorClass.BAD_REQUEST,
        ErrorClass.PERMANENT,
        ErrorClass.SPAM_LIMIT,
        ErrorClass.ACCOUNT_BLOCKED,
    }
)


@dataclass(frozen=True)
class Decision:
    """What to do with the message, and how long to pause the account / the customer pair."""

    action: Action
    hold_account_s: float = 0.0
    hold_pair_s: float = 0.0


def is_last_attempt(attempt: int, retry_delays: int) -> bool:
    """True when the consumer would dead-letter instead of retrying after this attempt."""
    return attempt > retry_delays


def pair_backoff_s(attempt: int) -> float:
    """4^X seconds after the X-th pair-rate hit (Meta's guidance), capped."""
    return min(PAIR_BACKOFF_MAX_S, PAIR_BACKOFF_BASE_S ** max(1, attempt))


def decide(
    error_class: ErrorClass, *, attempt: int, retry_delays: int, retry_after_s: float | None
) -> Decision:
    """Decide the fate of a message whose send failed with ``error_class`` on ``attempt``."""
    if error_class is ErrorClass.AUTH:
        return Decision(Action.REAUTH)
    if error_class is ErrorClass.AMBIGUOUS:
        return Decision(Action.UNKNOWN)
    if error_class in _FAIL_CLASSES or not error_class.retryable:
        return Decision(Action.FAIL)
    hold_account = 0.0
    hold_pair = 0.0
    if error_class is ErrorClass.RATE_LIMIT:
        hold_account = retry_after_s if retry_after_s is not None else DEFAULT_THROTTLE_HOLD_S
    elif error_class is ErrorClass.PAIR_RATE_LIMIT:
        hold_pair = pair_backoff_s(attempt)
    if is_last_attempt(attempt, retry_delays):
        return Decision(Action.FAIL, hold_account, hold_pair)
    return Decision(Action.RETRY, hold_account, hold_pair)
