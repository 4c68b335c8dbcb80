"""Phone numbers typed by staff ("+34 600 00 00 01", "0034 600-000-001", "(650) 555-1234" with its
country code) turned into E.164, the form WhatsApp's ``wa_id`` takes (digits, country code first).

Google's libphonenumber metadata (``phonenumbers``) decides what is a valid number in which plan.
"""

from __future__ import annotations

import re

import phonenumbers

_TYPED = re.compile(r"^[0-9+()\-.\s/]{4,40}$")


class NotAPhoneNumber(ValueError):
    """What was typed is not a phone number WhatsApp can reach; the message says why."""


def to_e164(typed: str) -> str:
    """``+<country code><number>``; ``NotAPhoneNumber`` for letters, a missing country code or a
    number no country's plan has."""
    text = (typed or "").strip()
    if not text:
        raise NotAPhoneNumber("enter the customer's phone number")
    if not _TYPED.match(text):
        raise NotAPhoneNumber("a phone number has only digits, spaces, +, -, ( and ) — no letters")
    if text.startswith("00"):
        text = "+" + text[2:]
    elif not text.startswith("+"):
        text = "+" + text  # staff type the country code without its "+" (34 600 000 001)
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise NotAPhoneNumber("include the country code, e.g. +34 600 000 001 or +44 7911 123456") from exc
    if not phonenumbers.is_valid_number(number):
        raise NotAPhoneNumber(
            "this is not a valid phone number: check the country code and the number of digits"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def region_of(e164_or_digits: str) -> str | None:
    """The ISO country of a number (``ES`` for +34…), None when unknown."""
    digits = e164_or_digits.strip().lstrip("+")
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    region: str | None = phonenumbers.region_code_for_number(number)
    return region if region and region != "ZZ" else None


_PHONE_LIKE = re.compile(r"^\+?[0-9()\-.\s/]{6,40}$")


def search_digits(query: str) -> str | None:
    """The digits a search for a phone number should match, whatever its formatting ("+49 157 9999
    0003", "0049-157-99990003", "0157 99990003"); None when the query is not a phone number.

    Stored numbers are compared as digits too, and contain these digits: a national number typed
    without its country code (its trunk "0" dropped) still finds the stored international one.
    """
    text = (query or "").strip()
    if not _PHONE_LIKE.match(text):
        return None
    digits = re.sub(r"\D", "", text)
    if text.startswith(("+", "00")):
        try:
            digits = to_e164(text).lstrip("+")
        except NotAPhoneNumber:
            digits = digits[2:] if text.startswith("00") else digits
    else:
        digits = digits.lstrip("0")  # national (trunk "0"), or international typed without "+"
    return digits if len(digits) >= 6 else None
