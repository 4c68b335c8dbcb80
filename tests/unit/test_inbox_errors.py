"""The inbox's one mapping of domain errors to HTTP answers, and how a form words a refusal."""

from __future__ import annotations

import psycopg
import pytest
from pydantic import BaseModel, Field, ValidationError

from inbox_api.errors import Answer, Conflict, Invalid, MetaUnreachable, NotFound, answer
from inbox_api.web.forms import FormError, attempt, field_hint
from omni_common.errors import AccountConflict, ConnectionBudgetExhausted, DatabaseUnavailable
from omni_common.outbound.replies import (
    AccountUnavailable,
    ChatNotFound,
    EmptyReply,
    MessageNotFound,
    ReactionUnsupported,
    WindowClosed,
)
from omni_common.tenancy.accounts import CredentialsRefused


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("no such label"), 404),
        (ChatNotFound("no such conversation"), 404),
        (MessageNotFound("no such message"), 404),
        (Conflict("a label named 'x' already exists"), 409),
        (AccountConflict("held elsewhere"), 409),
        (WindowClosed("closed"), 409),
        (AccountUnavailable("disabled"), 409),
        (EmptyReply("empty"), 422),
        (ReactionUnsupported("WhatsApp only"), 422),
        (Invalid("bad filter"), 422),
        (CredentialsRefused("token expired"), 422),
        (MetaUnreachable("down"), 502),
    ],
)
def test_each_domain_error_has_one_status(error: Exception, status: int) -> None:
    found = answer(error)
    assert found is not None
    assert found.status == status


def test_a_refused_reply_says_why_in_a_stable_code() -> None:
    assert answer(WindowClosed("too late")) == Answer(409, "too late", {"reason": "window_closed"})


def test_an_account_held_elsewhere_is_explained_in_the_owners_words() -> None:
    found = answer(AccountConflict("platform id 123 mapped to tenant 456"))
    assert found is not None
    assert found.detail == "this account is already connected to another restaurant"


def test_anything_else_is_not_a_domain_error() -> None:
    assert answer(ValueError("a bug")) is None
    assert answer(KeyError("x")) is None


def test_a_page_reads_the_detail_as_a_sentence() -> None:
    assert Answer(404, "no such label").sentence() == "No such label."
    assert Answer(422, "Check it.").sentence() == "Check it."


class _Form(BaseModel):
    name: str = Field(min_length=1)
    color: str = Field(pattern=r"^#[0-9a-f]{6}$")


def test_a_validation_error_names_its_field() -> None:
    with pytest.raises(ValidationError) as caught:
        _Form(name="ok", color="red")
    assert field_hint(caught.value, {"color": "the colour must look like #1a2b3c"}) == (
        "the colour must look like #1a2b3c"
    )
    assert field_hint(caught.value, {}) == "check the fields"


async def test_a_form_words_refusals_and_lets_a_missing_thing_through() -> None:
    async def refused() -> None:
        raise Conflict("the shortcut /hours is already used")

    async def own_words() -> None:
        raise FormError("Choose a label from the list.")

    async def invalid() -> None:
        _Form(name="", color="#000000")

    async def missing() -> None:
        raise NotFound("no such conversation")

    async def done() -> str:
        return "Label saved."

    outcome = await attempt(refused, refused="Not saved: {}.")
    assert (outcome.error, outcome.status) == ("Not saved: the shortcut /hours is already used.", 409)
    assert (await attempt(own_words)).error == "Choose a label from the list."
    assert (await attempt(invalid, hints={"name": "the name takes 1-40 characters"})).error == (
        "Not saved: the name takes 1-40 characters."
    )
    assert (await attempt(done)).done == "Label saved."
    with pytest.raises(NotFound):  # the page's 404 alert answers it
        await attempt(missing)


@pytest.mark.parametrize(
    "error",
    [
        DatabaseUnavailable("too many clients"),
        ConnectionBudgetExhausted("all 10 connections in use"),
        psycopg.OperationalError("terminating connection due to administrator command"),
    ],
)
def test_a_busy_or_lost_database_is_a_503_with_retry_after_in_plain_words(error: Exception) -> None:
    found = answer(error)
    assert found is not None
    assert (found.status, found.headers) == (503, {"Retry-After": "5"})
    assert "too many clients" not in found.detail  # the server's words stay in the operator's log
    assert found.detail.startswith("the inbox is busy")
