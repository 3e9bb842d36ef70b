"""Asking a question per channel: the web control, WhatsApp's interactive limits, SMS text and
USSD screens that never pass 182 characters, with every option reachable through the pages."""

from __future__ import annotations

import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import smeflow.channels as channels
import smeflow.channels.forms as forms
from smeflow.channels import USSD_LIMIT, parse_choice, prompt, ussd_pages
from smeflow.engine.definitions import FormField
from smeflow.i18n import LANGUAGES, messages


def _field(type_: str, **config: Any) -> FormField:
    config.setdefault("label", "Which service would you like?")
    return FormField(name="answer", type=type_, **config)  # type: ignore[arg-type]


def _says(key: str, language: str, **values: Any) -> str:
    return messages().text(key, language, **values)


def test_the_public_names_are_those_in_all() -> None:
    for module in (channels, forms):
        public = {
            name
            for name in dir(module)
            if not name.startswith("_") and not isinstance(getattr(module, name), types.ModuleType)
        }
        assert public == set(module.__all__), module.__name__


def test_the_web_gets_a_control_description() -> None:
    field = _field("single_choice", options=["Haircut", "Braids"], help="Pick one", required=False)
    shown = prompt(field, channel="web", language="sw", country="KE")
    assert shown.text == field.label
    assert shown.control == {
        "type": "single_choice",
        "input": "radio",
        "name": "answer",
        "label": field.label,
        "help": "Pick one",
        "required": False,
        "options": [{"value": "Haircut", "label": "Haircut"}, {"value": "Braids", "label": "Braids"}],
        "multiple": False,
    }
    money = prompt(
        _field("money", currency="KES", min=100, max=500000), channel="web", language="en", country="KE"
    )
    assert money.control is not None
    assert (money.control["min"], money.control["max"], money.control["currency"]) == (100, 500000, "KES")
    assert money.control["unit"] == "minor"
    rating = prompt(_field("rating"), channel="web", language="en", country="KE").control
    assert rating is not None
    assert (rating["min"], rating["max"]) == (1, 5)
    assert prompt(_field("short_text"), channel="web", language="en", country="KE").control == {
        "type": "short_text", "input": "text", "name": "answer", "label": field.label, "required": True,
        "max_length": 300,
    }  # fmt: skip


@pytest.mark.parametrize("language", ["en", "sw", "ha"])
def test_sms_numbers_the_options_and_offers_the_local_skip_word(language: str) -> None:
    field = _field("single_choice", options=["Haircut", "Braids"], required=False)
    text = prompt(field, channel="sms", language=language, country="KE").text
    skip = forms.skip_word(language)
    assert text.split("\n") == [
        field.label,
        "1. Haircut",
        "2. Braids",
        _says("form.optional", language, skip=skip),
    ]
    assert forms.is_skip(skip.lower())


def test_tenant_words_are_shown_as_written_and_only_smeflow_words_are_translated() -> None:
    field = _field("consent", label="Unakubali masharti yetu?")
    for language in LANGUAGES:
        lines = prompt(field, channel="sms", language=language, country="KE").text.split("\n")
        assert lines[0] == "Unakubali masharti yetu?"
        assert lines[1:] == _says("form.yes_no", language).split("\n")


def test_whatsapp_uses_buttons_for_a_yes_no_and_up_to_three_short_options() -> None:
    consent = prompt(_field("consent"), channel="whatsapp", language="yo", country="NG").interactive
    assert consent is not None
    assert consent["type"] == "button"
    assert consent["action"] == {
        "buttons": [
            {"type": "reply", "reply": {"id": "1", "title": "Bẹ́ẹ̀ni"}},
            {"type": "reply", "reply": {"id": "2", "title": "Rárá"}},
        ]
    }
    three = prompt(
        _field("single_choice", options=["Haircut", "Braids", "Nails"]),
        channel="whatsapp",
        language="en",
        country="KE",
    ).interactive
    assert three is not None
    assert three["type"] == "button"


def test_whatsapp_uses_a_list_for_up_to_ten_options_and_text_beyond() -> None:
    long_label = "Braids and cornrows with extensions"
    field = _field("single_choice", options=["Haircut", long_label, "Nails", "Pedicure"])
    shown = prompt(field, channel="whatsapp", language="sw", country="KE")
    assert shown.interactive is not None
    assert shown.interactive["type"] == "list"
    action = shown.interactive["action"]
    assert action["button"] == _says("form.choose", "sw")
    rows = action["sections"][0]["rows"]
    assert [row["id"] for row in rows] == ["1", "2", "3", "4"]
    assert all(len(row["title"]) <= 24 for row in rows)
    assert rows[1]["description"] == long_label
    assert "2. " + long_label in shown.text  # the text still numbers every option
    assert [parse_choice(row["title"], field.options or []) for row in rows] == field.options  # typed back
    many = _field("single_choice", options=[f"Option {n}" for n in range(11)])
    assert prompt(many, channel="whatsapp", language="en", country="KE").interactive is None
    multiple = _field("multiple_choice", options=["A", "B"])
    assert prompt(multiple, channel="whatsapp", language="en", country="KE").interactive is None


def test_whatsapp_rating_is_a_list_of_stars() -> None:
    shown = prompt(_field("rating"), channel="whatsapp", language="en", country="KE").interactive
    assert shown is not None
    rows = shown["action"]["sections"][0]["rows"]
    assert [row["id"] for row in rows] == ["1", "2", "3", "4", "5"]
    assert rows[3]["title"] == "4 ⭐⭐⭐⭐"


@pytest.mark.parametrize("language", ["en", "sw", "yo", "am"])
def test_a_ussd_yes_no_is_one_yes_two_no_in_the_customers_language(language: str) -> None:
    shown = prompt(_field("consent", label="Terms OK?"), channel="ussd", language=language, country="KE")
    assert shown.text == "CON Terms OK?\n" + _says("form.yes_no", language)


def test_a_long_ussd_option_list_is_paged_with_more_and_back() -> None:
    options = [f"Branch number {n} in the city centre" for n in range(1, 31)]
    field = _field("single_choice", options=options)
    first = prompt(field, channel="ussd", language="sw", country="KE")
    assert first.pages > 1
    assert first.text.startswith("CON " + field.label)
    assert first.text.endswith("\n" + _says("form.more", "sw"))
    assert _says("form.back", "sw") not in first.text
    middle = prompt(field, channel="ussd", language="sw", country="KE", page=1)
    assert middle.text.endswith(_says("form.more", "sw") + "\n" + _says("form.back", "sw"))
    last = prompt(field, channel="ussd", language="sw", country="KE", page=99)
    assert last.page == last.pages - 1
    assert last.text.endswith("\n" + _says("form.back", "sw"))
    assert _says("form.more", "sw") not in last.text
    assert f"30. {options[-1]}" in last.text


def test_an_overlong_ussd_question_is_shortened_to_fit() -> None:
    field = _field("short_text", label="Tell us " * 37)
    shown = prompt(
        field, channel="ussd", language="en", country="KE", notice="Please fill in this field. " * 5
    )
    assert len(shown.text) <= USSD_LIMIT
    assert shown.text.startswith("CON Please fill in this field.")
    assert "Tell us" in shown.text


_labels = st.lists(st.text(min_size=1, max_size=300).filter(str.strip), min_size=1, max_size=100)


@settings(max_examples=200)
@given(
    _labels,
    st.text(min_size=1, max_size=300).filter(str.strip),
    st.sampled_from(LANGUAGES),
    st.booleans(),
    st.none() | st.text(max_size=200),
)
def test_every_ussd_page_fits_and_every_option_is_reachable(
    labels: list[str], question: str, language: str, back_on_first: bool, notice: str | None
) -> None:
    screens = ussd_pages(
        question,
        labels,
        more=_says("form.more", language),
        back=_says("form.back", language),
        back_on_first=back_on_first,
        notice=notice,
    )
    assert all(len(screen) <= USSD_LIMIT for screen in screens)
    assert all(screen.startswith("CON ") for screen in screens)
    header = 2 if notice else 1  # the notice and the question, each on one line
    shown = [line.split(". ", 1)[0] for screen in screens for line in screen.split("\n")[header:]]
    numbers = [item for item in shown if item.isdigit() and item not in ("0", "00")]
    assert numbers == [str(n) for n in range(1, len(labels) + 1)]  # each once, in order, across the pages
    for index, screen in enumerate(screens):
        lines = screen.split("\n")[header:]
        assert (_says("form.more", language) in lines) == (index < len(screens) - 1)
        assert (_says("form.back", language) in lines) == (index > 0 or back_on_first)
