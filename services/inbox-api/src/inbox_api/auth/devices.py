"""A session's device in words ("Chrome on Android"), from its User-Agent, for the list of sessions.

Deliberately coarse: the owner needs to recognise "my phone" vs "the office laptop", not a version.
"""

from __future__ import annotations

# Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari", Android says "Linux".
BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "Mac"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def device_of(user_agent: str) -> str:
    """ "Chrome on Android", "Firefox on Windows", "Safari", or "Another app" for API clients."""
    ua = user_agent[:512]
    browser = next((name for mark, name in BROWSERS if mark in ua), None)
    system = next((name for mark, name in SYSTEMS if mark in ua), None)
    if browser is None:
        return f"An app on {system}" if system else "Another app"
    return f"{browser} on {system}" if system else browser
