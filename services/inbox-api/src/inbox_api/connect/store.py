"""Server-side memory of a "Continue with Facebook" round trip: the ``state`` given to Meta's dialog,
then the long-lived token and what it may connect, between the callback and "Connect".

Why in this process's memory: the inbox has no Redis of its own (only the sender's optional pacer),
and a tenant-DB table would need a migration for rows that live ten minutes. The cost: a replica
restart drops pending logins (the owner clicks the button again), and with several replicas the
ingress must keep a session on one replica (sticky) for the few minutes of the round trip. Nothing
here ever reaches a page or a cookie: the browser only holds the random ``state``/``pick`` handles.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STATE_TTL_S = 600.0  # the issue: a state expires in 10 minutes
CHOICE_TTL_S = 900.0  # the long-lived token waits at most 15 minutes for "Connect"
MAX_KEPT = 10_000  # bounds the memory a flood of "Continue" clicks can take; the oldest go first


@dataclass(frozen=True)
class Pending:
    """Whose login a state belongs to: the session that asked for it, and the channels asked."""

    sid: str
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    channels: tuple[str, ...]
    expires_at: float
    embedded: bool = False  # WhatsApp Embedded Signup (connect/embedded.py)


@dataclass
class Choices:
    """What the person may connect, with the long-lived user token behind it (server-side only)."""

    sid: str
    tenant_id: uuid.UUID
    user_token: str
    assets: dict[str, Any]
    expires_at: float
    granted: list[str] = field(default_factory=list)
    embedded: bool = False  # WhatsApp numbers ticked here are registered (Embedded Signup's fallback)
    targets: dict[str, list[str]] = field(default_factory=dict)  # debug_token's granted targets


class ConnectStore:
    """States (single use) and choices, each bound to one session and expiring."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._states: dict[str, Pending] = {}
        self._choices: dict[str, Choices] = {}

    def _sweep(self) -> None:
        now = self._clock()
        self._states = {k: v for k, v in self._states.items() if v.expires_at > now}
        self._choices = {k: v for k, v in self._choices.items() if v.expires_at > now}

    def issue(
        self,
        sid: str,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        channels: tuple[str, ...],
        *,
        embedded: bool = False,
    ) -> str:
        """A new state for this session (unguessable, 256 bits)."""
        self._sweep()
        state = secrets.token_urlsafe(32)
        expires = self._clock() + STATE_TTL_S
        self._states[state] = Pending(sid, tenant_id, user_id, channels, expires, embedded)
        _trim(self._states)
        return state

    def take(self, state: str, sid: str) -> Pending | None:
        """The state's login, once: None when unknown, expired, used, or another session's.

        A state shown by another session is burnt too: it has leaked, it must not work later.
        """
        self._sweep()
        pending = self._states.pop(state, None)
        if pending is None or not secrets.compare_digest(pending.sid, sid):
            return None
        return pending

    def look(self, state: str, sid: str) -> Pending | None:
        """The state's login without using it up (Embedded Signup's callback hands it on to the
        page that opened the dialog, which uses it); None when it would not ``take`` (another
        session's state is burnt, as ``take`` does)."""
        self._sweep()
        pending = self._states.get(state)
        if pending is not None and not secrets.compare_digest(pending.sid, sid):
            return self.take(state, sid)
        return pending

    def keep(self, choices: Choices) -> str:
        """Remember the choices; the handle the page posts back with "Connect"."""
        self._sweep()
        handle = secrets.token_urlsafe(32)
        self._choices[handle] = choices
        _trim(self._choices)
        return handle

    def peek(self, handle: str, sid: str) -> Choices | None:
        self._sweep()
        found = self._choices.get(handle)
        if found is None or not secrets.compare_digest(found.sid, sid):
            return None
        return found

    def drop(self, handle: str) -> None:
        self._choices.pop(handle, None)

    def choices(
        self,
        sid: str,
        tenant_id: uuid.UUID,
        token: str,
        assets: dict[str, Any],
        granted: list[str],
        *,
        embedded: bool = False,
        targets: dict[str, list[str]] | None = None,
    ) -> Choices:
        expires = self._clock() + CHOICE_TTL_S
        return Choices(sid, tenant_id, token, assets, expires, granted, embedded, targets or {})


def _trim(kept: dict[str, Any]) -> None:
    while len(kept) > MAX_KEPT:
        del kept[next(iter(kept))]  # dicts keep insertion order: the oldest
