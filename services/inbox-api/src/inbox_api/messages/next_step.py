"""What an owner can do about a reply that failed, in one sentence under the reason: a failed
message never stops at "failed: Message undeliverable". Pure: decided from the stored error code.
"""

from __future__ import annotations

from omni_common.graph.errors import ErrorClass, classify

RETRY = "Press Retry to send it again."
OUTCOME_UNKNOWN = "outcome_unknown"
_BY_CLASS = {
    ErrorClass.RATE_LIMIT: "Meta asked us to slow down: press Retry in a minute.",
    ErrorClass.PAIR_RATE_LIMIT: "Too many messages to this customer at once: press Retry in a minute.",
    ErrorClass.TRANSIENT: "Meta had a passing problem: press Retry.",
    ErrorClass.AUTH: "Reconnect the account in Settings (Replace token), then press Retry.",
    ErrorClass.PERMISSION: "Reconnect the account in Settings and grant every permission, then press Retry.",
    ErrorClass.RECIPIENT_UNAVAILABLE: (
        "The customer cannot get messages here now (no account on this number, or they blocked it): "
        "reach them another way, such as a phone call, or wait until they write again."
    ),
    ErrorClass.ACCOUNT_BLOCKED: "Check the account in Meta Business Suite: Meta restricted it.",
    ErrorClass.SPAM_LIMIT: "Check the number's quality in WhatsApp Manager before sending more.",
    ErrorClass.TEMPLATE: "Check the template in WhatsApp Manager, or choose another template.",
    ErrorClass.MEDIA: "Send the file in another format or smaller, or describe it in a text.",
    ErrorClass.BAD_REQUEST: "Change the message (shorter, without unusual characters) and send it again.",
    ErrorClass.AMBIGUOUS: "It may have arrived: check with the customer before pressing Retry.",
}


def _class_of(code: str | None) -> ErrorClass | None:
    if not code:
        return None
    if code.lstrip("-").isdecimal():
        return classify(int(code), None, None)
    try:
        return ErrorClass(code)
    except ValueError:
        return None


def next_step(channel: str, code: str | None) -> str:
    """The one thing to do next about a failed message of ``channel`` with the stored ``code``."""
    if code == OUTCOME_UNKNOWN:
        return _BY_CLASS[ErrorClass.AMBIGUOUS]
    found = _class_of(code)
    if found is ErrorClass.OUTSIDE_WINDOW:
        if channel == "whatsapp":
            return "The 24-hour window has closed: send a template instead (“Choose a template”)."
        return "The window to answer has closed: you can reply once the customer writes again."
    if code == "131049":  # held back by WhatsApp for engagement: not an error of ours to repeat now
        return "Try again tomorrow, or wait until the customer writes."
    return _BY_CLASS.get(found, RETRY) if found is not None else RETRY
