"""Links that came from outside (a customer's payload, Meta, a template): https only, host shown.

A link in a page is a click away from the owner's session. One a customer could shape
(``javascript:``, ``data:``, ``http:``, a ``user:pass@`` prefix that hides the real host) is not
rendered as a link at all, and the ones that are carry their host in plain sight.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_link(url: object) -> str | None:
    """``url`` when it is an absolute https link without credentials, else ``None``."""
    if not isinstance(url, str) or len(url) > 4096:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() != "https" or not parts.hostname or "@" in parts.netloc:
        return None
    if any(ch in url for ch in "\r\n\t\\"):
        return None
    return url.strip()


def link_host(url: object) -> str:
    """The host a safe link goes to, for the owner to read beside it (``""`` when not safe)."""
    link = safe_link(url)
    return (urlsplit(link).hostname or "") if link else ""
