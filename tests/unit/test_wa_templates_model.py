"""Filling in a WhatsApp template before anything is queued: Meta's components, the text the customer
reads, and refusals that name the field (``omni_common.wa_templates.model``)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meta_sandbox.template_samples import sample_templates
from omni_common.wa_templates.model import (
    TemplateDef,
    TemplateInvalid,
    language_rank,
    parse_template,
    placeholders,
    prepare,
)


def _sample(name: str) -> TemplateDef:
    for raw in sample_templates("1"):
        if raw["name"] == name:
            parsed = parse_template({"status": "APPROVED", **raw, "id": "9"})
            assert parsed is not None
            return parsed
    raise KeyError(name)


def test_placeholders_in_order_of_first_use() -> None:
    assert placeholders("Hi {{1}}, {{2}} at {{ 3 }}; {{1}} again") == ["1", "2", "3"]
    assert placeholders("Hola {{first_name}} a las {{time}}") == ["first_name", "time"]
    assert placeholders(None) == []


def test_a_positional_template_becomes_metas_components_and_the_text_the_customer_reads() -> None:
    prepared = prepare(
        _sample("booking_confirmation"),
        {
            "header": ["Olga"],
            "body": ["Olga", "4", "Friday", "21:00"],
            "buttons": [{"index": 1, "value": "cancel-1"}],
        },
    )
    assert prepared.components == [
        {"type": "header", "parameters": [{"type": "text", "text": "Olga"}]},
        {
            "type": "body",
            "parameters": [{"type": "text", "text": v} for v in ("Olga", "4", "Friday", "21:00")],
        },
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "1",
            "parameters": [{"type": "payload", "payload": "cancel-1"}],
        },
    ]
    assert prepared.rendered == (
        "Booking confirmed, Olga\nHi Olga, your table for 4 on Friday at 21:00 is confirmed.\n"
        "Reply to change your booking"
    )
    assert [b["text"] for b in prepared.buttons] == ["See you there", "Cancel booking", "Call us"]
    assert prepared.stored()["parameters"]["body"] == ["Olga", "4", "Friday", "21:00"]


def test_a_named_template_carries_parameter_names_and_its_url_button_value() -> None:
    prepared = prepare(
        _sample("booking_reminder"),
        {"body": {"first_name": "Ana", "time": "21:00"}, "buttons": ["B-77"]},
    )
    body = next(c for c in prepared.components if c["type"] == "body")
    assert body["parameters"] == [
        {"type": "text", "text": "Ana", "parameter_name": "first_name"},
        {"type": "text", "text": "21:00", "parameter_name": "time"},
    ]
    button = next(c for c in prepared.components if c["type"] == "button")
    assert button == {
        "type": "button",
        "sub_type": "url",
        "index": "0",
        "parameters": [{"type": "text", "text": "B-77"}],
    }
    assert prepared.rendered == "Hola Ana, te esperamos hoy a las 21:00."


def test_a_media_header_takes_a_link() -> None:
    prepared = prepare(
        _sample("todays_special"), {"header": "https://bistro.example/special.jpg", "body": ["risotto"]}
    )
    assert prepared.components[0] == {
        "type": "header",
        "parameters": [{"type": "image", "image": {"link": "https://bistro.example/special.jpg"}}],
    }
    assert prepared.header == {"format": "IMAGE", "link": "https://bistro.example/special.jpg"}
    with pytest.raises(TemplateInvalid) as missing:
        prepare(_sample("todays_special"), {"body": ["risotto"]})
    assert missing.value.field == "template.parameters.header"
    with pytest.raises(TemplateInvalid, match="https://"):
        prepare(_sample("todays_special"), {"header": "ftp://x/y.jpg", "body": ["risotto"]})


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"header": ["Olga"], "body": ["Olga", "4", "Friday"]}, "template.parameters.body.4", "missing"),
        ({"header": ["Olga"], "body": ["Olga", "4", "", "21:00"]}, "template.parameters.body.3", "missing"),
        ({"header": ["Olga"], "body": ["a", "b", "c", "d", "e"]}, "template.parameters.body.5", "4 value"),
        (
            {"header": ["Olga"], "body": ["Ol\nga", "4", "Fri", "21"]},
            "template.parameters.body.1",
            "one line",
        ),
        (
            {"header": ["x" * 61], "body": ["Olga", "4", "Fri", "21"]},
            "template.parameters.header",
            "allows 60",
        ),
        (
            {"header": ["Olga"], "body": ["x" * 1025, "4", "Fri", "21"]},
            "template.parameters.body.1",
            "at most",
        ),
        ({"header": ["Olga"], "body": ["a     b", "4", "Fri", "21"]}, "template.parameters.body.1", "spaces"),
        (
            {"header": ["Olga"], "body": ["a", "4", "F", "2"], "buttons": [None, None, "x"]},
            "template.parameters.buttons.2",
            "no value",
        ),
    ],
)
def test_a_missing_or_bad_value_is_refused_with_its_field(
    params: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(TemplateInvalid, match=words) as refused:
        prepare(_sample("booking_confirmation"), params)
    assert refused.value.field == field


def test_only_approved_templates_are_sent() -> None:
    for name in ("summer_promo", "happy_hour", "old_offer", "welcome_video"):
        with pytest.raises(TemplateInvalid) as refused:
            prepare(_sample(name), {"body": ["x"]})
        assert refused.value.field == "template.name"


def test_a_url_button_with_a_suffix_needs_its_value() -> None:
    with pytest.raises(TemplateInvalid) as refused:
        prepare(_sample("booking_reminder"), {"body": {"first_name": "Ana", "time": "21:00"}})
    assert refused.value.field == "template.parameters.buttons.0"


def test_the_customers_language_ranks_first() -> None:
    assert language_rank("es_ES", "es_ES") == 0
    assert language_rank("es_ES", "es") == 1
    assert language_rank("en_US", "es") == 2
    assert language_rank("de", None) == 2


def test_meta_list_entries_without_a_body_are_skipped() -> None:
    assert parse_template({"name": "x", "language": "en", "components": [{"type": "HEADER"}]}) is None
    assert parse_template({"name": "x", "components": []}) is None
    found = parse_template(
        {
            "name": "x",
            "language": "en",
            "status": "rejected",
            "rejected_reason": "NONE",
            "components": [{"type": "BODY", "text": "hi"}],
        }
    )
    assert found is not None
    assert found.status == "REJECTED"
    assert found.reason is None


@given(st.lists(st.text(min_size=0, max_size=40), max_size=6))
def test_any_values_either_prepare_or_are_refused_with_a_field(values: list[str]) -> None:
    field: str | None = None
    try:
        prepared = prepare(_sample("booking_confirmation"), {"header": values[:1], "body": values[1:]})
    except TemplateInvalid as exc:
        field = exc.field
    if field is not None:
        assert field.startswith("template.parameters")
    else:
        assert "{{" not in prepared.rendered.split("\n")[1] or any("{{" in v for v in values)
