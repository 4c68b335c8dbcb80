"""Request bodies of the alerts routes: a browser's push subscription, the signals switches."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SubscriptionKeys(BaseModel):
    """The browser's keys for the payload's encryption (RFC 8291), base64url."""

    p256dh: str = Field(min_length=80, max_length=100)
    auth: str = Field(min_length=16, max_length=32)


class SubscriptionIn(BaseModel):
    """``PushSubscription.toJSON()`` as the browser gives it."""

    endpoint: str = Field(min_length=10, max_length=2000)
    keys: SubscriptionKeys


class EndpointIn(BaseModel):
    """The subscription to forget (this browser's, when alerts are turned off)."""

    endpoint: str = Field(min_length=10, max_length=2000)


class SignalsIn(BaseModel):
    """What WhatsApp customers see of the team: read receipts and "typing…"."""

    read_receipts: bool
    typing_indicator: bool
