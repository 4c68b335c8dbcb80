"""The client's address for throttling and the audit trail: the TCP peer, or — only when that peer is
one of our own proxies (``OMNI_TRUSTED_PROXIES``) — the nearest address in X-Forwarded-For that is
not one of them. Anyone can write X-Forwarded-For; only our proxies' word is taken."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Sequence[str]) -> tuple[Network, ...]:
    """``10.0.0.0/8``, ``127.0.0.1`` ... as networks; ValueError names a bad entry."""
    found = []
    for value in values:
        try:
            found.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"OMNI_TRUSTED_PROXIES: {value!r} is not an address or network") from exc
    return tuple(found)


def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_address(peer: str | None, forwarded_for: str | None, proxies: tuple[Network, ...]) -> str:
    """The address a request came from (see the module's docstring)."""
    if not peer:
        return "unknown"
    if not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    for hop in reversed(hops):  # the right end was written by our proxies, the left by anyone
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # garbage where our proxy should have written an address: trust none of it
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer
