"""What an account's encrypted ``credentials`` hold: the access token, and for a WhatsApp number that
the inbox registered (Embedded Signup, issue 20) the two-step verification PIN it chose.

Why both in one ciphertext: the PIN is as secret as the token (whoever has it can re-register the
number elsewhere), so it gets the same protection — sealed with the tenant's key ring, bound to the
account — without a new column or migration. A plain token (every account connected before, and
every non-WhatsApp one) stays the plaintext as is; a token never starts with ``{``, so the JSON form
cannot be mistaken for one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

PIN_DIGITS = 6


@dataclass(frozen=True)
class Credentials:
    """The secrets of one account (``repr`` leaves them out: they must never reach a log)."""

    token: str
    pin: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(token=…, pin={'…' if self.pin else None})"


def valid_pin(pin: str) -> bool:
    """WhatsApp's two-step verification PIN: exactly six digits."""
    return len(pin) == PIN_DIGITS and pin.isascii() and pin.isdigit()


def pack(credentials: Credentials) -> str:
    """The plaintext to encrypt: the bare token, or ``{"token", "pin"}`` when there is a PIN."""
    if credentials.pin is None:
        return credentials.token
    if not valid_pin(credentials.pin):
        raise ValueError("a WhatsApp PIN is six digits")
    return json.dumps({"token": credentials.token, "pin": credentials.pin}, separators=(",", ":"))


def unpack(plaintext: str) -> Credentials:
    """The credentials of a decrypted plaintext (either form ``pack`` writes)."""
    if not plaintext.startswith("{"):
        return Credentials(plaintext)
    data = json.loads(plaintext)
    pin = data.get("pin")
    return Credentials(str(data["token"]), str(pin) if pin is not None else None)
