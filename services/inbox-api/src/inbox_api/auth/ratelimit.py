"""A small in-memory sliding-window limiter (per replica; good enough to slow password guessing)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RateLimiter:
    """At most ``limit`` hits per ``window_s`` seconds per key."""

    limit: int = 5
    window_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    max_keys: int = 50_000
    _hits: dict[str, deque[float]] = field(default_factory=dict, init=False)

    def hit(self, key: str) -> bool:
        """Record an attempt; False when the key is over its limit (the attempt is refused)."""
        now = self.clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        if len(self._hits) > self.max_keys:  # keep memory bounded under a spray of keys
            self._hits.pop(next(iter(self._hits)))
        return True

    def reset(self, key: str) -> None:
        """Forget a key's attempts (after a successful login)."""
        self._hits.pop(key, None)
