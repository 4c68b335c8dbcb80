"""Delivery status ordering: statuses arrive out of order, and a message's status never moves back."""

from __future__ import annotations

# queued < sending < sent < delivered < read. "failed" ends a message that was not yet delivered.
# "unknown" is only found on rows written before unconfirmed sends ended failed/outcome_unknown;
# it ranks with "sending" so any real answer wins. (Such messages never got a platform id, so a
# status webhook cannot name them; the sender settles them when Meta's acceptance comes late.)
_RANK = {"queued": 0, "sending": 1, "unknown": 1, "sent": 2, "delivered": 3, "read": 4}
_FAILABLE = ("queued", "sending", "unknown", "sent")


def may_replace(current: str | None, new: str) -> bool:
    """True when a message whose status is ``current`` may take status ``new``."""
    if current is None:
        return True
    if current == "failed":
        return False
    if new == "failed":
        return current in _FAILABLE
    return _RANK.get(new, -1) > _RANK.get(current, 99)


def predecessors(new: str) -> tuple[str, ...]:
    """Every status ``new`` may replace (for a single guarded ``UPDATE``)."""
    return tuple(s for s in (*_RANK, "failed") if may_replace(s, new))
