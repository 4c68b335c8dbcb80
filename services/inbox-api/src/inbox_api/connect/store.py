"""Server-side memory of a "Continue with Facebook" round trip: the ``state`` given to Meta's dialog,
then the long-lived token and what it may connect, between the callback and "Connect".

Where: in Redis when ``OMNI_REDIS_URL`` is set (shared by every inbox replica, values sealed with
the key ring, expired by Redis), else in this process's memory (one replica: a restart drops pending
logins and the owner clicks the button again). A tenant-DB table would need a migration for rows
that live ten minutes. Nothing here ever reaches a page or a cookie: the browser only holds the
random ``state``/``pick`` handles.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from omni_common.crypto import KeyRing

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


class Kept(Protocol):
    """Where states and choices wait: this process's memory, or Redis shared by every replica."""

    async def put(self, key: str, value: str, ttl_s: float) -> None: ...
    async def get(self, key: str) -> str | None: ...
    async def pop(self, key: str) -> str | None: ...


class MemoryKept:
    """One replica's memory (no Redis): bounded, the oldest going first."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._kept: dict[str, tuple[str, float]] = {}

    def _live(self, key: str) -> str | None:
        found = self._kept.get(key)
        if found is None:
            return None
        if found[1] <= self._clock():
            del self._kept[key]
            return None
        return found[0]

    async def put(self, key: str, value: str, ttl_s: float) -> None:
        now = self._clock()
        if len(self._kept) >= MAX_KEPT:  # expired first, then the oldest
            self._kept = {k: v for k, v in self._kept.items() if v[1] > now}
        self._kept[key] = (value, now + ttl_s)
        while len(self._kept) > MAX_KEPT:
            del self._kept[next(iter(self._kept))]

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def pop(self, key: str) -> str | None:
        found = self._live(key)
        self._kept.pop(key, None)
        return found


class RedisKept:
    """Shared by every inbox replica, so the callback may land on another replica than the start.

    Values hold Meta tokens: sealed with the key ring (AES-GCM, bound to their key), never plain in
    Redis; Redis expires them. ``pop`` is GETDEL: a state is used once across all replicas.
    """

    def __init__(self, redis: Any, keyring: KeyRing, prefix: str) -> None:
        self._redis = redis
        self._keyring = keyring
        self._prefix = prefix

    def _aad(self, key: str) -> bytes:
        return b"omni connect store|" + key.encode()

    async def put(self, key: str, value: str, ttl_s: float) -> None:
        sealed = self._keyring.encrypt(value, aad=self._aad(key))
        await self._redis.set(self._prefix + key, sealed, px=int(ttl_s * 1000))

    def _open(self, key: str, raw: bytes | str | None) -> str | None:
        if raw is None:
            return None
        return self._keyring.decrypt(raw.decode() if isinstance(raw, bytes) else raw, aad=self._aad(key))

    async def get(self, key: str) -> str | None:
        return self._open(key, await self._redis.get(self._prefix + key))

    async def pop(self, key: str) -> str | None:
        return self._open(key, await self._redis.getdel(self._prefix + key))


def _pending_text(p: Pending) -> str:
    return json.dumps(
        {
            "sid": p.sid,
            "t": str(p.tenant_id),
            "u": str(p.user_id),
            "c": list(p.channels),
            "x": p.expires_at,
            "e": p.embedded,
        }
    )


def _pending_of(text: str) -> Pending:
    d = json.loads(text)
    return Pending(d["sid"], uuid.UUID(d["t"]), uuid.UUID(d["u"]), tuple(d["c"]), float(d["x"]), bool(d["e"]))


def _choices_text(c: Choices) -> str:
    return json.dumps(
        {
            "sid": c.sid,
            "t": str(c.tenant_id),
            "tok": c.user_token,
            "a": c.assets,
            "x": c.expires_at,
            "g": c.granted,
            "e": c.embedded,
            "tg": c.targets,
        }
    )


def _choices_of(text: str) -> Choices:
    d = json.loads(text)
    return Choices(
        d["sid"],
        uuid.UUID(d["t"]),
        d["tok"],
        d["a"],
        float(d["x"]),
        list(d["g"]),
        bool(d["e"]),
        dict(d["tg"]),
    )


class ConnectStore:
    """States (single use) and choices, each bound to one session and expiring."""

    def __init__(self, clock: Callable[[], float] = time.time, kept: Kept | None = None) -> None:
        self._clock = clock
        self._kept: Kept = kept or MemoryKept(clock)

    async def issue(
        self,
        sid: str,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        channels: tuple[str, ...],
        *,
        embedded: bool = False,
    ) -> str:
        """A new state for this session (unguessable, 256 bits)."""
        state = secrets.token_urlsafe(32)
        expires = self._clock() + STATE_TTL_S
        await self._kept.put(
            "state:" + state,
            _pending_text(Pending(sid, tenant_id, user_id, channels, expires, embedded)),
            STATE_TTL_S,
        )
        return state

    async def take(self, state: str, sid: str) -> Pending | None:
        """The state's login, once: None when unknown, expired, used, or another session's.

        A state shown by another session is burnt too: it has leaked, it must not work later.
        """
        text = await self._kept.pop("state:" + state)
        pending = _pending_of(text) if text else None
        if (
            pending is None
            or pending.expires_at <= self._clock()
            or not secrets.compare_digest(pending.sid, sid)
        ):
            return None
        return pending

    async def look(self, state: str, sid: str) -> Pending | None:
        """The state's login without using it up (Embedded Signup's callback hands it on to the
        page that opened the dialog, which uses it); None when it would not ``take`` (another
        session's state is burnt, as ``take`` does)."""
        text = await self._kept.get("state:" + state)
        pending = _pending_of(text) if text else None
        if pending is not None and not secrets.compare_digest(pending.sid, sid):
            return await self.take(state, sid)
        if pending is not None and pending.expires_at <= self._clock():
            return None
        return pending

    async def keep(self, choices: Choices) -> str:
        """Remember the choices; the handle the page posts back with "Connect"."""
        handle = secrets.token_urlsafe(32)
        await self._kept.put("pick:" + handle, _choices_text(choices), CHOICE_TTL_S)
        return handle

    async def peek(self, handle: str, sid: str) -> Choices | None:
        text = await self._kept.get("pick:" + handle)
        found = _choices_of(text) if text else None
        if found is None or found.expires_at <= self._clock() or not secrets.compare_digest(found.sid, sid):
            return None
        return found

    async def drop(self, handle: str) -> None:
        await self._kept.pop("pick:" + handle)

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
