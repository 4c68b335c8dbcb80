"""An audit entry as a plain sentence for the owner: names instead of ids, which customer a
conversation is with, no event names ("Assigned the conversation with Ana López to Demo Manager").

Pure: the names are looked up by the service (``Names``) and passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omni_common.domain.channels import channel_name

STATE_WORDS = {"open": "open", "pending": "pending", "resolved": "resolved", "snoozed": "snoozed"}


@dataclass(frozen=True)
class Names:
    """What the sentences name: users by id, conversations by id (the customer and channel),
    accounts by id, contacts by id."""

    users: dict[str, str] = field(default_factory=dict)
    conversations: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)
    contacts: dict[str, str] = field(default_factory=dict)

    def user(self, user_id: Any) -> str:
        return self.users.get(str(user_id), "a former team member") if user_id else "nobody"

    def conversation(self, chat_id: Any) -> str:
        return self.conversations.get(str(chat_id), "a customer (conversation deleted)")

    def contact(self, contact_id: Any) -> str:
        return self.contacts.get(str(contact_id), "a customer")


def _quote(text: Any, limit: int = 60) -> str:
    s = " ".join(str(text or "").split())
    return f"“{s[:limit]}…”" if len(s) > limit else f"“{s}”"


def _reply(d: dict[str, Any], who: str) -> str:
    kind = d.get("kind")
    if kind == "template":
        return f"Sent the template {_quote(str(d.get('template') or '').replace('_', ' '))} to {who}"
    if kind and kind != "text":
        return f"Sent {d.get('filename') or 'a ' + str(kind)} to {who}"
    return f"Replied to {who}: {_quote(d.get('preview'))}"


def _state(d: dict[str, Any], who: str) -> str:
    to = STATE_WORDS.get(str(d.get("to")), str(d.get("to")))
    if to == "snoozed" and d.get("snoozed_until"):
        until = str(d["snoozed_until"])[:16].replace("T", " ")
        return f"Snoozed the conversation with {who} until {until} UTC"
    return f"Marked the conversation with {who} as {to}"


def _account(action: str, d: dict[str, Any], acc: str) -> str:
    if action == "account.tested":
        if d.get("ok"):
            return f"Tested the connection of {acc}: it works"
        why = d.get("reason") or "no reason given"
        return f"Tested the connection of {acc}: Meta refused the token ({why})"
    if action == "account.renamed":
        return f"Renamed {acc} to {_quote(d.get('name') or 'no name')}"
    if action == "account.human_agent_changed":
        on = "allowed" if d.get("enabled") else "stopped"
        return f"{on.capitalize()} replies up to 7 days (human agent) on {acc}"
    verbs = {
        "account.connected": "Connected",
        "account.token_replaced": "Replaced the access token of",
        "account.enabled": "Switched on",
        "account.disabled": "Switched off",
    }
    return f"{verbs.get(action, 'Changed')} {acc}"


# Sentences about a conversation: {who} is its customer, {label}/{emoji}/{was} filled from details.
_CONVERSATION = {
    "reply.retried": "Sent a failed message to {who} again",
    "reaction.sent": "Reacted {emoji} to a message from {who}",
    "suggestion.used": "Sent an AI-suggested reply to {who} as it was",
    "suggestion.edited": "Sent an AI-suggested reply to {who} after editing it",
    "conversation.assigned": "Assigned the conversation with {who} to {to}{was}",
    "conversation.unassigned": "Unassigned the conversation with {who}{was}",
    "conversation.label_added": "Added the label {label} to the conversation with {who}",
    "conversation.label_removed": "Took the label {label} off the conversation with {who}",
    "note.added": "Added a note to the conversation with {who}",
}


def _conversation(action: str, d: dict[str, Any], who: str, names: Names) -> str:
    if action == "reply.sent":
        return _reply(d, who)
    if action == "conversation.state_changed":
        return _state(d, who)
    was = f" (was {names.user(d.get('from'))})" if d.get("from") else ""
    return _CONVERSATION[action].format(
        who=who,
        to=names.user(d.get("to")),
        was=was,
        label=_quote(d.get("label")),
        emoji=d.get("emoji") or "a",
    )


def _settings_row(action: str, d: dict[str, Any]) -> str | None:
    noun, _, verb = action.partition(".")
    if noun not in ("label", "quick_reply"):
        return None
    now = d.get("to") if verb == "updated" else d
    now = now if isinstance(now, dict) else {}
    if noun == "label":
        what = f"the label {_quote(now.get('name'))}"
    else:
        what = f"the quick reply /{now.get('shortcut') or ''}"
    return f"{verb.capitalize()} {what}" if verb in ("created", "updated", "deleted") else None


ROLE_NOUNS = {"business_owner": "owner", "manager": "manager", "staff": "staff", "investor": "investor"}


def _sessions(d: dict[str, Any]) -> str:
    n = d.get("sessions")
    if not isinstance(n, int) or n == 0:
        return ""
    return f" ({n} session{'s' if n != 1 else ''} ended)"


def _team(action: str, d: dict[str, Any]) -> str | None:
    """Team changes and sign-ins (``omni_common.tenancy.sessions``, ``auth.service``)."""
    who = str(d.get("email") or "a team member")
    if action == "user.sign_in_failed":
        where = d.get("address") or "an unknown address"
        return f"Failed sign-in as {who} from {where}: {d.get('why') or 'refused'}"
    if action == "user.role_changed":
        to = ROLE_NOUNS.get(str(d.get("to")), str(d.get("to") or "another role"))
        return f"Made {who} {to}{_sessions(d)}"
    verbs = {
        "user.deactivated": "Turned off the access of",
        "user.reactivated": "Turned back on the access of",
        "user.password_changed": "Changed the password of",
        "user.signed_out_everywhere": "Signed out everywhere",
    }
    if action in verbs:
        return f"{verbs[action]} {who}{_sessions(d)}"
    return None


def describe(entry: dict[str, Any], names: Names) -> str:
    """One sentence for an entry (``entry_view``'s shape), without its actor and time."""
    action = str(entry.get("action") or "")
    raw = entry.get("details")
    d: dict[str, Any] = raw if isinstance(raw, dict) else {}
    target = entry.get("target_id")
    if action in _CONVERSATION or action in ("reply.sent", "conversation.state_changed"):
        return _conversation(action, d, names.conversation(target), names)
    if action.startswith("account."):
        acc = names.accounts.get(str(target)) or f"the {channel_name(str(d.get('channel') or ''))} account"
        return _account(action, d, acc)
    if action == "assistant.updated":
        state = "on" if d.get("enabled") else "off"
        return f"Changed the AI settings (suggestions are {state})"
    if action == "user.renamed":
        return f"Changed their name to {_quote(d.get('name') or 'the one from their email')}"
    if action.startswith("user."):
        found = _team(action, d)
        if found:
            return found
    if action == "contact.linked":
        return f"Linked {names.contact(target)} and {names.contact(d.get('other'))} as one person"
    if action == "contact.unlinked":
        return f"Unlinked {names.contact(target)} from the same person"
    found = _settings_row(action, d)
    if found:
        return found
    return action.replace("_", " ").replace(".", ": ").capitalize()
