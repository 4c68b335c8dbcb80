"""What an owner is told when a template stops working (Meta's status webhook, or a refused send)."""

from __future__ import annotations

from omni_common.domain.reauth import Notice
from omni_common.wa_templates.model import REASON_WORDS, STATUS_WORDS

TEMPLATE_KIND = "template_status"
SEND_KIND = "template_refused"
# Statuses after which a template can no longer be sent (or never could).
STOPPED = frozenset({"REJECTED", "PAUSED", "DISABLED", "FLAGGED"})
FIX = (
    "Check it in WhatsApp Manager (Message templates), edit or appeal it, then press Refresh in the "
    "template picker."
)


# Meta's status-update events that are not a status of their own.
_EVENT_STATUS = {"REINSTATED": "APPROVED", "FLAGGED": None}


def status_for_event(event: str) -> str | None:
    """The template's status after a ``message_template_status_update`` event (None: unchanged;
    ``DELETED``: the template is gone)."""
    event = event.upper()
    return _EVENT_STATUS.get(event, event)


def reason_words(reason: str | None) -> str | None:
    """Meta's reason code (or its own words) as an owner reads it; None for none."""
    if not reason or reason.upper() == "NONE":
        return None
    return REASON_WORDS.get(reason.upper(), reason.replace("_", " ").lower())


def status_notice(name: str, language: str, status: str, reason: str | None) -> Notice | None:
    """The owner's notice for a status change; None when the template still works (or works again)."""
    status = status.upper()
    if status not in STOPPED:
        return None
    why = reason_words(reason)
    words = STATUS_WORDS.get(status, status.lower())
    body = f"The WhatsApp template “{name}” ({language}) was {words}"
    body += f": {why}." if why else "."
    if status == "FLAGGED":
        body += " It can still be sent, but Meta will pause it if its quality does not improve."
    else:
        body += " It cannot be sent until Meta approves it again."
    return Notice(
        kind=TEMPLATE_KIND,
        severity="warning" if status == "FLAGGED" else "error",
        title=f"WhatsApp template “{name}” {words}",
        body=f"{body} {FIX}",
        data={"template": name, "language": language, "status": status, "reason": reason, "fix": FIX},
    )


def send_notice(name: str, language: str, code: str, reason: str) -> Notice:
    """The owner's notice when Meta refused a template send (132000-132016, 132068/132069)."""
    return Notice(
        kind=SEND_KIND,
        severity="error",
        title=f"WhatsApp template “{name}” could not be sent",
        body=f"Meta refused the template “{name}” ({language}): {reason}. {FIX}",
        data={"template": name, "language": language, "code": code, "fix": FIX},
    )
