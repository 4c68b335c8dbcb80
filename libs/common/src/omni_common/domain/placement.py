"""Where a new tenant's database goes: the active server with the most room (pure rule)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerRoom:
    """What placement needs to know of one database server."""

    name: str
    state: str  # active | draining | full
    tenants: int
    max_tenants: int | None  # None: no limit set


def room(server: ServerRoom) -> float:
    """Tenants the server may still take (infinite without a limit)."""
    if server.max_tenants is None:
        return float("inf")
    return max(0, server.max_tenants - server.tenants)


def has_room(server: ServerRoom) -> bool:
    """Whether a new tenant may go there: active, and under its limit."""
    return server.state == "active" and room(server) > 0


def pick_server(servers: Sequence[ServerRoom]) -> ServerRoom | None:
    """The active server with the most room; among equals (or unlimited ones) the fewest tenants,
    then the first by name. None when no server may take a tenant."""
    candidates = [s for s in servers if has_room(s)]
    if not candidates:
        return None
    return min(candidates, key=lambda s: (-room(s), s.tenants, s.name))
