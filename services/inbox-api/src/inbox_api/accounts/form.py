"""The "Connect an account" form: each field checked on its own, each problem worded for its field,
and what was typed kept for the page to show again (never the token).

Pure: no database, no FastAPI. ``read_account_form`` is what the settings page posts through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from inbox_api.accounts.models import AccountIn
from omni_common.errors import AccountConflict, OmniError
from omni_common.tenancy.accounts import CredentialsRefused

FIELDS = ("channel", "external_account_id", "waba_id", "display_name", "token")
# What each field takes, in words an owner can act on.
HINTS = {
    "channel": "Choose WhatsApp, Messenger or Instagram.",
    "external_account_id": (
        "The account id is Meta's number for the account, digits only (letters, '.', '_' or '-' "
        "at most, 64 characters). For WhatsApp it is the phone number id from WhatsApp Manager, "
        "not the phone number itself."
    ),
    "waba_id": "The WhatsApp Business Account id takes 64 characters at most.",
    "display_name": "The display name takes 200 characters at most.",
    "token": "The access token needs at least 8 characters (paste the whole token from Meta).",
}
WABA_NEEDED = "A WhatsApp number needs its WhatsApp Business Account id (WhatsApp Manager → Account tools)."
SPACES_OR_PLUS = (
    "This looks like a phone number. The account id is the phone number id Meta shows next to the "
    "number in WhatsApp Manager (digits only, no spaces or '+')."
)


@dataclass
class AccountForm:
    """What was typed (the token only to use it, never to show again) and each field's problem."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    body: AccountIn | None = None

    def shown(self) -> dict[str, str]:
        """The values the page may show back: everything but the token."""
        return {k: v for k, v in self.values.items() if k != "token"}


def _looks_like_phone(value: str) -> bool:
    return any(c in value for c in "+ ()") and sum(c.isdigit() for c in value) >= 6


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Every invalid field with its own hint (not the first error's hint for all of them)."""
    found: dict[str, str] = {}
    for err in exc.errors():
        loc = err.get("loc", ())
        name = str(loc[0]) if loc else ""
        found.setdefault(name, HINTS.get(name, "Check this field."))
    return found


def read_account_form(raw: dict[str, Any]) -> AccountForm:
    """Check the posted fields; ``body`` is set only when every field is right."""
    values = {name: str(raw.get(name) or "").strip() for name in FIELDS}
    form = AccountForm(values)
    try:
        form.body = AccountIn.model_validate(
            {
                "channel": values["channel"],
                "external_account_id": values["external_account_id"],
                "token": values["token"],
                "waba_id": values["waba_id"] or None,
                "display_name": values["display_name"] or None,
            }
        )
    except ValidationError as exc:
        form.errors = field_errors(exc)
    if "external_account_id" in form.errors and _looks_like_phone(values["external_account_id"]):
        form.errors["external_account_id"] = SPACES_OR_PLUS
    if values["channel"] == "whatsapp" and not values["waba_id"]:
        form.errors.setdefault("waba_id", WABA_NEEDED)
    if form.errors:
        form.body = None
    return form


def error_field(exc: OmniError) -> str:
    """Which field a refusal of the connect is about ("" for the form as a whole)."""
    if isinstance(exc, AccountConflict):
        return "external_account_id"
    if isinstance(exc, CredentialsRefused):
        return exc.field  # "token", or the id the token was not granted (OwnershipRefused)
    return ""
