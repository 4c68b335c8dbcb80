"""Our app's webhook subscription on a Page or a WhatsApp Business Account: what it must hold (pure).

One rule for "Continue with Facebook" (which subscribes on connect) and the account-monitor (which
re-subscribes what Meta dropped: Meta unsubscribes an app after about an hour of failed deliveries).
A Page's subscription lists our app with its ``subscribed_fields``; a WABA's lists our app under
``whatsapp_business_api_data`` (no fields: the app dashboard's WhatsApp fields apply).
https://developers.facebook.com/docs/graph-api/reference/page/subscribed_apps ,
https://developers.facebook.com/docs/whatsapp/embedded-signup/webhooks
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

# The Messenger webhook fields the normalizer reads (Instagram's arrive through the Page's app).
PAGE_FIELDS = ("messages", "messaging_postbacks", "message_deliveries", "message_reads", "message_echoes")
# Without these the inbox gets no customer messages at all: their absence means "lapsed".
MESSAGING_FIELDS = frozenset({"messages"})


def page_fields(listing: Iterable[Mapping[str, Any]], app_id: str) -> list[str] | None:
    """Our app's ``subscribed_fields`` in a Page's ``subscribed_apps`` data; None when not listed."""
    for app in listing:
        if str(app.get("id")) == app_id:
            return [str(f) for f in app.get("subscribed_fields") or []]
    return None


def waba_subscribed(listing: Iterable[Mapping[str, Any]], app_id: str) -> bool:
    """Whether our app is among a WABA's ``subscribed_apps`` data."""
    return any(str((app.get("whatsapp_business_api_data") or {}).get("id")) == app_id for app in listing)


def subscription_ok(kind: str, listing: Iterable[Mapping[str, Any]], app_id: str) -> bool:
    """``kind`` "page": our app listed with the messaging fields; "waba": our app listed."""
    if kind == "waba":
        return waba_subscribed(listing, app_id)
    fields = page_fields(listing, app_id)
    return fields is not None and set(fields) >= MESSAGING_FIELDS


def check_due(last_checked: datetime | None, now: datetime, every: timedelta) -> bool:
    """Whether a subscription is due for a check (``every`` 0: never). A tenth of slack keeps an
    hourly check hourly although each pass starts a little later than the last one."""
    if every <= timedelta(0):
        return False
    return last_checked is None or now - last_checked >= every * 0.9
