"""Which push endpoints the inbox will POST to: the browsers' push services only.

A subscription's endpoint is a URL the server calls later, so an arbitrary one would let a signed-in
user make the server call anything (SSRF). Browsers only ever hand out endpoints of their vendor's
push service; the list is a setting (``OMNI_PUSH_ENDPOINT_HOSTS``, by default Chrome/Edge/Opera's
FCM, Firefox's autopush, Windows' WNS and Apple's) so a test can add 127.0.0.1. Plain http is
accepted only for loopback hosts.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def endpoint_allowed(endpoint: str, hosts: tuple[str, ...] | list[str]) -> bool:
    """True when ``endpoint`` is https on a listed host (or a subdomain of one), or http on loopback."""
    try:
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if not host or parts.username or parts.password:
        return False
    listed = any(host == h or host.endswith("." + h) for h in hosts)
    if parts.scheme == "https":
        return listed
    return parts.scheme == "http" and listed and _loopback(host)
