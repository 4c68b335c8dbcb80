"""Why an outbound message cannot be queued: one class per reason, each with a stable code.

ReplyRefused (``reason`` says why, ``field`` names what to fix when a field is at fault)
 ├── EmptyReply            nothing to send
 ├── ReplyTooLong          over the channel's limit
 ├── AccountUnavailable    the chat's account is disabled or needs a new token
 ├── WindowClosed          the platform's window allows no such message now
 ├── ReplyTargetInvalid    reply_to is not a message of this chat
 ├── ReactionUnsupported   the channel has no reaction message (Messenger, Instagram)
 ├── ReactionTargetInvalid the message reacted to is not a customer's message with a platform id
 ├── InvalidEmoji          a reaction is one emoji
 ├── TemplateRefused       no such template, not approved, or a parameter missing or too long
 ├── FileRejected          a file the platform would refuse (type from its bytes, size)
 ├── RecipientInvalid      writing first: not a phone number WhatsApp can reach
 ├── AccountInvalid        writing first: no such account, or not a WhatsApp number
 └── NotRetryable          "try again" on a message that did not fail
ChatNotFound               no such chat in this tenant
 └── MessageNotFound       no such message in this chat
"""

from __future__ import annotations

from omni_common.errors import OmniError


class ChatNotFound(OmniError):
    """The tenant has no such conversation."""


class MessageNotFound(ChatNotFound):
    """No such message in this conversation."""


class ReplyRefused(OmniError):
    """A reply that cannot be queued; ``reason`` is a stable code, the message explains it."""

    reason = "refused"
    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field


class EmptyReply(ReplyRefused):
    """The reply has no text."""

    reason = "empty"
    field = "text"


class ReplyTooLong(ReplyRefused):
    """The reply is longer than its channel allows."""

    reason = "too_long"
    field = "text"


class AccountUnavailable(ReplyRefused):
    """The conversation's account is disabled or needs re-authorisation."""

    reason = "account_unavailable"


class WindowClosed(ReplyRefused):
    """The platform's window allows no such message now (24 hours, 7 days with the human-agent tag)."""

    reason = "window_closed"


class ReplyTargetInvalid(ReplyRefused):
    """``reply_to`` is not a message of this conversation."""

    reason = "invalid_reply_to"
    field = "reply_to"


class ReactionUnsupported(ReplyRefused):
    """The channel has no reaction message we can send."""

    reason = "reactions_unsupported"


class ReactionTargetInvalid(ReplyRefused):
    """The message cannot be reacted to (not a customer's message, or without a platform id)."""

    reason = "invalid_target"


class InvalidEmoji(ReplyRefused):
    """A reaction that is not one emoji."""

    reason = "invalid_emoji"
    field = "emoji"


class TemplateRefused(ReplyRefused):
    """A template send refused before queueing: unknown, not approved, or parameters wrong."""

    reason = "invalid_template"
    field = "template"


class FileRejected(ReplyRefused):
    """A file the conversation's platform would refuse (its real type, its size)."""

    reason = "file_refused"
    field = "file"


class RecipientInvalid(ReplyRefused):
    """Writing first: ``to`` is not a phone number WhatsApp can reach."""

    reason = "invalid_recipient"
    field = "to"


class AccountInvalid(ReplyRefused):
    """Writing first: the account is not one of this restaurant's WhatsApp numbers."""

    reason = "invalid_account"
    field = "account_id"


class NotRetryable(ReplyRefused):
    """Only a failed message of the business can be sent again."""

    reason = "not_retryable"
