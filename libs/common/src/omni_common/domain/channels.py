"""The channels and the words owners read for them."""

from __future__ import annotations

from typing import Literal, TypeGuard, get_args

Channel = Literal["whatsapp", "facebook", "instagram"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)

# What an owner reads: the product names Meta uses in its own apps.
CHANNEL_NAMES: dict[str, str] = {"whatsapp": "WhatsApp", "facebook": "Messenger", "instagram": "Instagram"}


def channel_name(channel: str) -> str:
    """The channel as an owner reads it ("Messenger" for ``facebook``); unknown ones unchanged."""
    return CHANNEL_NAMES.get(channel, channel)


def is_channel(value: str) -> TypeGuard[Channel]:
    """Narrow a string from a URL or a row to a ``Channel``."""
    return value in CHANNELS
