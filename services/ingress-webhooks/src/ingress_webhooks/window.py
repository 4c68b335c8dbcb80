"""Which webhooks share one broker message: per-channel windows bounded in time, bodies and bytes.

Pure bookkeeping, no clock and no event loop: the caller (``shared.py``) passes the time, starts one
timer per opened window and calls ``expire`` when it fires. A window closes, whichever comes first,
when it holds ``max_bodies`` bodies, when its bodies reach ``max_bytes`` (so a message is at most
``max_bytes`` plus one body), or when its timer fires ``window_s`` after its first body. Each window
has an id so that a timer fired for a window already closed by size closes nothing.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclass(frozen=True)
class ShareLimits:
    window_s: float
    max_bodies: int
    max_bytes: int

    def __post_init__(self) -> None:
        if self.window_s < 0 or self.max_bodies < 1 or self.max_bytes < 1:
            raise ValueError(f"invalid share limits: {self}")


@dataclass
class _Window(Generic[T]):
    id: int
    opened_at: float
    items: list[T] = field(default_factory=list)
    size: int = 0


@dataclass(frozen=True)
class Added(Generic[T]):
    """What adding one body did: the window it joined, whether it opened it, and what it closed."""

    window_id: int
    opened: bool  # the first body of a new window: the caller starts its timer
    closed: list[T] | None  # the window's bodies when this body filled it, in arrival order


class ShareWindows(Generic[K, T]):
    """The open window of every key (channel); each body goes into its key's open window."""

    def __init__(self, limits: ShareLimits) -> None:
        self.limits = limits
        self._open: dict[K, _Window[T]] = {}
        self._next_id = 0

    @property
    def open_bodies(self) -> int:
        return sum(len(w.items) for w in self._open.values())

    def add(self, key: K, item: T, size: int, now: float) -> Added[T]:
        window = self._open.get(key)
        opened = window is None
        if window is None:
            self._next_id += 1
            window = self._open[key] = _Window(self._next_id, now)
        window.items.append(item)
        window.size += size
        full = len(window.items) >= self.limits.max_bodies or window.size >= self.limits.max_bytes
        if full or self.limits.window_s == 0:
            del self._open[key]
            return Added(window.id, opened, window.items)
        return Added(window.id, opened, None)

    def expire(self, key: K, window_id: int) -> list[T] | None:
        """The timer of ``window_id`` fired: close it if it is still open."""
        window = self._open.get(key)
        if window is None or window.id != window_id:
            return None
        del self._open[key]
        return window.items

    def close_all(self) -> list[tuple[K, list[T]]]:
        """Close every open window now (shutting down)."""
        closed = [(key, w.items) for key, w in self._open.items()]
        self._open.clear()
        return closed
