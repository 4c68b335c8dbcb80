"""The inbox's errors, and the one place where each becomes an HTTP status.

OmniError
 ├── NotFound          404  the tenant has no such conversation, label, account... (the message says which)
 ├── Unauthorized      401  wrong restaurant, email or password
 ├── Forbidden         403  the caller's role may not do this
 ├── Conflict          409  a name or shortcut already taken
 ├── Invalid           422  a request that makes no sense (a filter, a cursor, a snooze time...)
 ├── TooManyRequests   429  too many attempts; wait
 └── MetaUnreachable   502  Meta could not be asked; nothing was saved
From libs/common: ChatNotFound 404; ReplyRefused 422, or 409 when the account or the platform's window
forbids sending, or a message is not one that can be sent again (the answer carries its ``reason``,
and ``field`` when one field is at fault: ``template.parameters.body.2``, ``file``, ``to``);
AccountConflict 409; CredentialsRefused 422; LastOwner 409 (a change that would leave no active
owner); WeakPassword 422; a value PostgreSQL cannot take (a NUL character in a text, a number out of
range: psycopg's and SQLAlchemy's ``DataError``) 422, found by the API fuzz run (nothing is written:
the transaction rolls back);
DatabaseUnavailable 503 with ``Retry-After`` (the restaurant's database stayed full, busy or down for
the whole wait), and so is a connection the database dropped mid-request (its transaction rolled
back: nothing was written).

Service functions raise these and know nothing of HTTP. JSON routes answer ``{"detail": ...}`` (the
shape of FastAPI's HTTPException) through ``install``'s handler; a page (anything outside ``/api/``)
gets the same words as an alert fragment; the HTML forms word a refusal in place with ``answer``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import DataError

from omni_common.db.trouble import DATABASE_TROUBLE
from omni_common.errors import AccountConflict, DatabaseUnavailable, OmniError
from omni_common.outbound.errors import NotRetryable
from omni_common.outbound.replies import AccountUnavailable, ChatNotFound, ReplyRefused, WindowClosed
from omni_common.tenancy.accounts import CredentialsRefused
from omni_common.tenancy.sessions import LastOwner, WeakPassword

log = structlog.get_logger(__name__)


class NotFound(OmniError):
    """The tenant has no such thing; the message names it ("no such label")."""


class Unauthorized(OmniError):
    """The caller could not be identified."""


class Forbidden(OmniError):
    """The caller may not do this."""


class Conflict(OmniError):
    """The change collides with what is already there (a name, a shortcut)."""


class Invalid(OmniError):
    """A request that makes no sense; the message says what to change."""


class TooManyRequests(OmniError):
    """Too many attempts in a short time."""


class MetaUnreachable(OmniError):
    """The Graph API could not be asked (network, Meta down): nothing was saved."""


# The one mapping. The most specific class listed wins (a WindowClosed is a ReplyRefused: 409, not 422).
STATUS: dict[type[Exception], int] = {
    NotFound: 404,
    ChatNotFound: 404,
    Unauthorized: 401,
    Forbidden: 403,
    Conflict: 409,
    AccountConflict: 409,
    LastOwner: 409,
    AccountUnavailable: 409,
    WindowClosed: 409,
    NotRetryable: 409,
    Invalid: 422,
    DataError: 422,
    psycopg.DataError: 422,
    ReplyRefused: 422,
    CredentialsRefused: 422,
    WeakPassword: 422,
    TooManyRequests: 429,
    MetaUnreachable: 502,
    **dict.fromkeys(DATABASE_TROUBLE, 503),
}
# Where an error's own message is not what the caller should read.
BUSY = "the inbox is busy for a moment and nothing was saved; try again in a few seconds"
UNSTORABLE = "a value in the request cannot be stored (a NUL character, or a number out of range)"
DETAIL: dict[type[Exception], str] = {
    AccountConflict: "this account is already connected to another restaurant",
    DataError: UNSTORABLE,
    psycopg.DataError: UNSTORABLE,
    **dict.fromkeys(DATABASE_TROUBLE, BUSY),
}
RETRY_AFTER_S = DatabaseUnavailable.retry_after_s


@dataclass(frozen=True)
class Answer:
    """What the caller is told about an error."""

    status: int
    detail: str
    extra: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def sentence(self) -> str:
        """The detail as a sentence for a page ("No such label.")."""
        text = self.detail[:1].upper() + self.detail[1:]
        return text if text.endswith((".", "!", "?")) else text + "."


def answer(exc: BaseException) -> Answer | None:
    """The HTTP answer of a domain error; None for anything else (a bug: a 500)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            extra: dict[str, str] = {}
            if isinstance(exc, ReplyRefused):
                extra["reason"] = exc.reason
                if exc.field is not None:
                    extra["field"] = exc.field
            status = STATUS[cls]
            headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else {}
            wait = getattr(exc, "retry_after_s", None)
            if status == 429 and isinstance(wait, int):
                headers = {"Retry-After": str(max(1, wait))}
            return Answer(status, DETAIL.get(cls, str(exc)), extra, headers)
    return None


async def _domain_error(request: Request, exc: Exception) -> Response:
    found = answer(exc)
    if found is None:  # only registered for mapped classes; kept for the type checker
        raise exc
    if found.status >= 500:
        log.warning("request_refused_busy", path=request.url.path, error=f"{type(exc).__name__}: {exc}"[:300])
    elif isinstance(exc, DataError | psycopg.DataError):
        # The statement only, never its parameters (they are the caller's values).
        log.info("request_value_unstorable", path=request.url.path, error=type(exc.__cause__ or exc).__name__)
    if request.url.path.startswith("/api/"):
        return JSONResponse(
            {"detail": found.detail, **found.extra}, status_code=found.status, headers=found.headers
        )
    return HTMLResponse(
        f"<p role='alert'>{escape(found.sentence())}</p>", status_code=found.status, headers=found.headers
    )


def install(app: FastAPI) -> None:
    """Answer every mapped error the same way, whichever route raised it."""
    for cls in STATUS:
        app.add_exception_handler(cls, _domain_error)
