"""Meta's side of WhatsApp Embedded Signup (issue 20): the session info the page relays, the WABA's
numbers, and registering a number on the Cloud API. Plain logic, no FastAPI.

The browser relays which WABA and number the person picked in Meta's popup (the ``WA_EMBEDDED_SIGNUP``
window message). Those ids are a hint, never trusted: the WABA must be among the targets
``debug_token`` says the person granted our app, and the number among that WABA's own
``/{waba-id}/phone_numbers``.
https://developers.facebook.com/docs/whatsapp/embedded-signup/implementation
https://developers.facebook.com/docs/whatsapp/cloud-api/reference/registration
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from inbox_api.connect.meta import FacebookLogin, Granted, LoginProblem, MetaRefused, graph_call

WABA_SCOPE = "whatsapp_business_management"
# 133005 "Two step verification PIN Mismatch": the number is already registered with a PIN set
# before us (by its owner, another provider, or an earlier signup whose PIN is not ours). It is
# registered, so the connection goes on; its PIN stays the one its owner knows.
ALREADY_REGISTERED = frozenset({133005})
NUMBER_FIELDS = "id,display_phone_number,verified_name,quality_rating,name_status,status"


@dataclass(frozen=True)
class SessionInfo:
    """What Meta's popup said when it ended (version 3): FINISH with the ids, CANCEL or ERROR."""

    event: str = ""  # "" when no message was relayed (redirect mode, scripts off)
    waba_id: str = ""
    phone_number_id: str = ""
    error_message: str = ""
    current_step: str = ""

    def problem(self) -> str | None:
        """The plain sentence for a popup that did not finish, else None."""
        if self.event == "CANCEL":
            return "You closed WhatsApp's sign-up before the end; nothing was connected."
        if self.event == "ERROR":
            said = self.error_message.strip()[:200] or "no reason given"
            return f"WhatsApp's sign-up stopped with an error ({said}); nothing was connected."
        return None


@dataclass(frozen=True)
class Number:
    """A WhatsApp number as its WABA lists it."""

    id: str
    waba_id: str
    number: str
    name: str
    quality: str = ""
    in_review: bool = False  # Meta still reviews the display name: no sends until it approves

    @classmethod
    def of(cls, item: dict[str, Any]) -> Number:
        """From ``meta.discover``'s number dicts (the choice page's fallback)."""
        return cls(
            str(item["id"]),
            str(item["waba_id"]),
            str(item.get("number") or ""),
            str(item.get("name") or ""),
            str(item.get("quality") or ""),
            bool(item.get("in_review")),
        )


async def numbers_of(login: FacebookLogin, waba_id: str, token: str) -> list[Number]:
    """``GET /{waba-id}/phone_numbers``: the numbers that belong to the WABA."""
    body = await graph_call(
        login, "GET", f"{waba_id}/phone_numbers", fields=NUMBER_FIELDS, access_token=token
    )
    return [
        Number(
            str(p["id"]),
            waba_id,
            str(p.get("display_phone_number") or ""),
            str(p.get("verified_name") or ""),
            str(p.get("quality_rating") or ""),
            p.get("name_status") == "PENDING_REVIEW",
        )
        for p in body.get("data") or []
    ]


def granted_waba(info: SessionInfo, granted: Granted) -> str | None:
    """The WABA to connect: the relayed one if the person granted it, the only one granted when
    nothing was relayed; None when the choice must be asked (several granted, none relayed).

    LoginProblem when the relayed WABA was not granted (a forged or stale id).
    """
    wabas = granted.targets.get(WABA_SCOPE, [])
    if info.waba_id:
        if info.waba_id not in wabas:
            raise LoginProblem(
                "Facebook did not give this app access to the WhatsApp account your browser named; "
                "nothing was connected. Start again."
            )
        return info.waba_id
    if not wabas:
        raise LoginProblem("Facebook shared no WhatsApp Business Account; start again and pick your number.")
    return wabas[0] if len(wabas) == 1 else None


def picked_number(info: SessionInfo, numbers: list[Number]) -> Number | None:
    """The relayed number if it belongs to the WABA; the only number when none was relayed; else None.

    LoginProblem when the relayed number is not the WABA's.
    """
    if info.phone_number_id:
        for number in numbers:
            if number.id == info.phone_number_id:
                return number
        raise LoginProblem(
            "The WhatsApp number your browser named is not in the WhatsApp account Facebook shared; "
            "nothing was connected. Start again."
        )
    if not numbers:
        raise LoginProblem(
            "This WhatsApp Business Account has no phone number yet; add one in WhatsApp Manager."
        )
    return numbers[0] if len(numbers) == 1 else None


def new_pin() -> str:
    """A two-step verification PIN for a number we register: six random digits."""
    return f"{secrets.randbelow(10**6):06d}"


async def register(login: FacebookLogin, phone_id: str, token: str, pin: str) -> bool:
    """``POST /{phone-number-id}/register``: True when registered with ``pin``; False when the number
    was already registered with another PIN (kept as it is). MetaRefused with Meta's reason else."""
    try:
        await graph_call(
            login,
            "POST",
            f"{phone_id}/register",
            json_body={"messaging_product": "whatsapp", "pin": pin},
            access_token=token,
        )
    except MetaRefused as exc:
        if exc.code in ALREADY_REGISTERED:
            return False
        raise
    return True
