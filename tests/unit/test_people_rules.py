"""Issue 18's words, as pure rules: the account form's errors per field, phone numbers typed any
way, people's names, audit sentences and what to do about a failed reply."""

from __future__ import annotations

import pytest

from inbox_api.accounts.form import HINTS, SPACES_OR_PLUS, WABA_NEEDED, error_field, read_account_form
from inbox_api.audit.words import Names, describe
from inbox_api.messages.next_step import RETRY, next_step
from omni_common.domain.people import customer_handle, customer_name, name_from_email, person_name
from omni_common.domain.phones import search_digits
from omni_common.errors import AccountConflict
from omni_common.tenancy.accounts import CredentialsRefused

GOOD = {
    "channel": "whatsapp",
    "external_account_id": "106540352242922",
    "token": "EAAB-13-chars",
    "waba_id": "102290129340398",
    "display_name": "Bistro",
}


def test_a_phone_number_as_account_id_names_the_account_id_not_the_token() -> None:
    form = read_account_form(GOOD | {"external_account_id": "+49 30 1234567"})
    assert form.body is None
    assert form.errors == {"external_account_id": SPACES_OR_PLUS}
    assert "token" not in form.errors


def test_each_field_has_its_own_error_and_what_was_typed_is_kept_but_the_token() -> None:
    form = read_account_form(
        {"channel": "whatsapp", "external_account_id": "abc def", "token": "short", "display_name": "x" * 201}
    )
    assert form.errors == {
        "external_account_id": HINTS["external_account_id"],
        "token": HINTS["token"],
        "display_name": HINTS["display_name"],
        "waba_id": WABA_NEEDED,
    }
    shown = form.shown()
    assert shown["external_account_id"] == "abc def"
    assert "token" not in shown
    assert read_account_form(GOOD | {"channel": "telegram"}).errors == {"channel": HINTS["channel"]}


def test_a_good_form_gives_the_account_and_refusals_point_at_their_field() -> None:
    form = read_account_form(GOOD | {"external_account_id": " 106540352242922 "})
    assert form.errors == {}
    assert form.body is not None
    assert form.body.external_account_id == "106540352242922"
    assert read_account_form(GOOD | {"channel": "instagram", "waba_id": ""}).errors == {}
    assert error_field(AccountConflict("taken")) == "external_account_id"
    assert error_field(CredentialsRefused("bad")) == "token"


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("+49 157 9999 0003", "4915799990003"),
        ("0049-157-9999-0003", "4915799990003"),
        ("0157 9999 0003", "15799990003"),
        ("49 (157) 9999-0003", "4915799990003"),
        ("+34 600 00 00 01", "34600000001"),
        ("pizza", None),
        ("table 12", None),
        ("12345", None),
    ],
)
def test_a_phone_search_is_digits_whatever_the_formatting(typed: str, digits: str | None) -> None:
    assert search_digits(typed) == digits


def test_people_are_named_never_by_email_or_platform_id() -> None:
    assert name_from_email("anna.maria_lopez@bistro.test") == "Anna Maria Lopez"
    assert name_from_email("12345@x.test") == "Team member"
    assert person_name("  Demo Manager ", "m@x.test") == "Demo Manager"
    assert person_name(None, "manager@x.test") == "Manager"
    igsid = "178414000000004321"
    assert customer_name("instagram", None, igsid, igsid) == "Instagram customer …4321"
    assert customer_name("instagram", None, "@lena.v", igsid) == "@lena.v"
    assert customer_name("whatsapp", None, None, "4915799990003") == "+4915799990003"
    assert customer_name("facebook", "Ana", igsid, igsid) == "Ana"
    assert customer_handle("instagram", igsid, igsid) is None
    assert customer_handle("whatsapp", None, "4915799990003") == "+4915799990003"


NAMES = Names(
    users={"u1": "Demo Manager", "u2": "Owner"},
    conversations={"c1": "Ana López (WhatsApp)"},
    accounts={"a1": "the Instagram “Bistro”"},
    contacts={"k1": "Ana López (WhatsApp)", "k2": "@ana (Instagram)"},
)


@pytest.mark.parametrize(
    ("action", "target", "details", "sentence"),
    [
        (
            "conversation.assigned",
            "c1",
            {"from": "u2", "to": "u1"},
            "Assigned the conversation with Ana López (WhatsApp) to Demo Manager (was Owner)",
        ),
        (
            "conversation.unassigned",
            "c1",
            {"from": "u1", "to": None},
            "Unassigned the conversation with Ana López (WhatsApp) (was Demo Manager)",
        ),
        (
            "conversation.state_changed",
            "c1",
            {"from": "open", "to": "resolved"},
            "Marked the conversation with Ana López (WhatsApp) as resolved",
        ),
        ("reply.sent", "c1", {"preview": "See you at 8"}, "Replied to Ana López (WhatsApp): “See you at 8”"),
        (
            "reply.sent",
            "c1",
            {"kind": "template", "template": "table_ready"},
            "Sent the template “table ready” to Ana López (WhatsApp)",
        ),
        (
            "conversation.label_added",
            "c1",
            {"label": "VIP"},
            "Added the label “VIP” to the conversation with Ana López (WhatsApp)",
        ),
        ("note.added", "gone", {}, "Added a note to the conversation with a customer (conversation deleted)"),
        ("account.disabled", "a1", {"channel": "instagram"}, "Switched off the Instagram “Bistro”"),
        (
            "account.tested",
            "x",
            {"channel": "facebook", "ok": False, "reason": "expired"},
            "Tested the connection of the Messenger account: Meta refused the token (expired)",
        ),
        (
            "contact.linked",
            "k1",
            {"other": "k2"},
            "Linked Ana López (WhatsApp) and @ana (Instagram) as one person",
        ),
        ("label.created", "l1", {"name": "VIP", "color": "#fff000"}, "Created the label “VIP”"),
        (
            "quick_reply.updated",
            "q1",
            {"from": {"shortcut": "hi"}, "to": {"shortcut": "hello"}},
            "Updated the quick reply /hello",
        ),
        ("assistant.updated", None, {"enabled": True}, "Changed the AI settings (suggestions are on)"),
    ],
)
def test_audit_entries_read_as_sentences_with_names(
    action: str, target: str | None, details: dict, sentence: str
) -> None:
    said = describe({"action": action, "target_id": target, "details": details}, NAMES)
    assert said == sentence
    assert action not in said


@pytest.mark.parametrize(
    ("channel", "code", "words"),
    [
        ("whatsapp", "131047", "send a template"),
        ("facebook", "outside_window", "once the customer writes again"),
        ("whatsapp", "131026", "reach them another way"),
        ("instagram", "190", "Reconnect the account in Settings"),
        ("whatsapp", "outcome_unknown", "check with the customer before pressing Retry"),
        ("whatsapp", "130429", "Retry in a minute"),
        ("whatsapp", None, RETRY),
        ("whatsapp", "not-a-code", RETRY),
    ],
)
def test_a_failed_reply_says_what_to_do_next(channel: str, code: str | None, words: str) -> None:
    assert words in next_step(channel, code)
