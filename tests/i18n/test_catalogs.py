"""The shipped catalogs: the same keys and placeholders in every language, real translations in
the right script, short enough for a phone; and how Catalog.text fills and falls back."""

from __future__ import annotations

import json
import re
import string
import unicodedata
from importlib import resources

import pytest

import smeflow.i18n as i18n
from smeflow.i18n import (
    LANGUAGES,
    Catalog,
    MissingPlaceholderError,
    UnknownMessageError,
    messages,
)

OTHERS = [language for language in LANGUAGES if language != "en"]
# The words customers type back; they stay in English capitals in every translation.
COMMANDS = re.compile(r"(?<![A-Za-z])(BOOK|CHANGE|CANCEL|PRICES|PAY|AGENT|START|STOP|YES|NO)(?![A-Za-z])")
# Latin-script names and acronyms allowed inside Amharic and Arabic messages.
LATIN_ALLOWED = re.compile(
    r"(?<![A-Za-z])(?:BOOK|CHANGE|CANCEL|PRICES|PAY|AGENT|START|STOP|YES|NO|M-Pesa|PIN|URL)(?![A-Za-z])"
)


def _raw(language: str) -> dict[str, str]:
    source = resources.files("smeflow.i18n").joinpath("catalogs", f"{language}.json")
    data: dict[str, str] = json.loads(source.read_text(encoding="utf-8"))
    return data


def _fields(message: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(message) if field is not None}


def _bare(message: str) -> str:
    """The message without placeholders, commands and allowed Latin names."""
    return LATIN_ALLOWED.sub("", re.sub(r"\{\w+\}", "", message))


ENGLISH = _raw("en")


def test_the_public_names_are_those_in_all() -> None:
    public = {name for name in dir(i18n) if not name.startswith("_")}
    assert public == set(i18n.__all__)


def test_there_are_fourteen_languages_each_with_a_catalog() -> None:
    assert LANGUAGES == ("en", "sw", "ha", "yo", "ig", "pcm", "zu", "xh", "af", "am", "so", "fr", "pt", "ar")
    assert all(messages().has(language) for language in LANGUAGES)
    assert set(messages().languages()) == set(LANGUAGES)


@pytest.mark.parametrize("language", OTHERS)
def test_every_catalog_has_exactly_the_english_keys(language: str) -> None:
    keys = set(_raw(language))
    assert keys - set(ENGLISH) == set(), "keys the English catalog does not have"
    assert set(ENGLISH) - keys == set(), "English keys missing"


@pytest.mark.parametrize("language", OTHERS)
def test_every_message_uses_the_english_placeholders(language: str) -> None:
    catalog = _raw(language)
    wrong = {key: _fields(catalog[key]) for key in ENGLISH if _fields(catalog[key]) != _fields(ENGLISH[key])}
    assert wrong == {}


@pytest.mark.parametrize("language", OTHERS)
def test_no_message_is_left_in_english(language: str) -> None:
    catalog = _raw(language)
    assert [key for key in ENGLISH if catalog[key] == ENGLISH[key]] == []


@pytest.mark.parametrize("language", OTHERS)
def test_commands_stay_english_capitals_in_translations(language: str) -> None:
    catalog = _raw(language)
    lost = {
        key: sorted(set(COMMANDS.findall(ENGLISH[key])) - set(COMMANDS.findall(catalog[key])))
        for key in ENGLISH
    }
    assert {key: words for key, words in lost.items() if words} == {}


@pytest.mark.parametrize("key", sorted(ENGLISH))
def test_the_english_catalog_uses_the_commands_the_translations_keep(key: str) -> None:
    # A command in a translation that English does not offer would confuse the understanding layer.
    for language in OTHERS:
        extra = set(COMMANDS.findall(_raw(language)[key])) - set(COMMANDS.findall(ENGLISH[key]))
        assert extra == set(), f"{language} {key}"


@pytest.mark.parametrize(("language", "script"), [("am", "ETHIOPIC"), ("ar", "ARABIC")])
def test_amharic_and_arabic_are_written_in_their_own_script(language: str, script: str) -> None:
    for key, message in _raw(language).items():
        letters = [char for char in _bare(message) if char.isalpha()]
        native = [char for char in letters if unicodedata.name(char, "").startswith(script)]
        assert letters, key
        assert len(native) / len(letters) >= 0.9, f"{key}: {message}"


def test_latin_script_catalogs_are_latin() -> None:
    for language in OTHERS:
        if language in {"am", "ar"}:
            continue
        for key, message in _raw(language).items():
            assert all(
                unicodedata.name(char, "LATIN").startswith("LATIN") or not char.isalpha() for char in message
            ), f"{language} {key}"


@pytest.mark.parametrize(
    ("language", "letters"),
    [
        ("yo", "ẹọṣàáèéìíòóùú"),  # Yoruba tone marks and sub-dots
        ("ig", "ịọụṅ"),  # Igbo dotted vowels
        ("ha", "ɗƙɓ"),  # Hausa hooked letters
    ],
)
def test_standard_diacritics_are_used(language: str, letters: str) -> None:
    text = unicodedata.normalize("NFC", " ".join(_raw(language).values())).casefold()
    missing = [letter for letter in unicodedata.normalize("NFC", letters) if letter not in text]
    # ṅ is rarer in Igbo; every other listed letter must appear somewhere in the catalog.
    assert [letter for letter in missing if letter != "ṅ"] == []


def test_catalogs_are_stored_in_nfc() -> None:
    for language in LANGUAGES:
        for key, message in _raw(language).items():
            assert unicodedata.normalize("NFC", message) == message, f"{language} {key}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_ussd_screens_fit_one_ussd_page(language: str) -> None:
    for key, message in _raw(language).items():
        if key.startswith("ussd."):
            assert len(message) <= 160, key
            assert "{" not in message, key
    menu = _raw(language)["ussd.main_menu"].split("\n")
    assert [line.split(".")[0] for line in menu[1:]] == ["1", "2", "3", "4"]
    resumed = _raw(language)["ussd.session_resumed"].split("\n")
    assert [line.split(".")[0] for line in resumed[1:]] == ["1", "2"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_messages_stay_short_enough_for_a_phone(language: str) -> None:
    # Without their values, no message is longer than 200 characters (about two SMS in Latin
    # script), and the common short replies fit a single one.
    catalog = _raw(language)
    too_long = {
        key: len(message) for key, message in catalog.items() if len(re.sub(r"\{\w+\}", "", message)) > 200
    }
    assert too_long == {}
    for key in (
        "handoff",
        "thanks_reply",
        "goodbye",
        "confirm.yes_no",
        "payment.cancelled",
        "not_understood",
    ):
        assert len(catalog[key]) <= 160, key


def test_text_fills_placeholders_with_the_values_as_given() -> None:
    text = messages().text("payment.link", "sw", amount="Ksh 1,500.00", url="https://pay.example/{x}")
    assert text == "Tafadhali lipa Ksh 1,500.00 kupitia kiungo hiki: https://pay.example/{x}"


def test_extra_values_are_ignored() -> None:
    assert messages().text("goodbye", "fr", business="Salon Amina") == _raw("fr")["goodbye"]


def test_a_missing_placeholder_value_is_a_readable_error_naming_it() -> None:
    with pytest.raises(MissingPlaceholderError, match=r"'booking\.confirmed' needs a value for: date, time"):
        messages().text("booking.confirmed", "yo", service="Haircut")
    with pytest.raises(ValueError, match="amount"):
        messages().text("payment.link", "en", url="https://pay.example")


def test_an_unknown_key_is_a_readable_key_error() -> None:
    with pytest.raises(KeyError) as caught:
        messages().text("booking.teleport", "en")
    assert isinstance(caught.value, UnknownMessageError)
    assert str(caught.value) == "there is no message 'booking.teleport' in the catalogs"


def test_an_unknown_language_falls_back_to_the_fallback_then_english() -> None:
    catalog = messages()
    assert catalog.text("goodbye", "rw", fallback="sw") == _raw("sw")["goodbye"]
    assert catalog.text("goodbye", "rw", fallback="de") == ENGLISH["goodbye"]
    assert catalog.text("goodbye", "rw") == ENGLISH["goodbye"]
    assert not catalog.has("rw")


def test_a_regional_tag_uses_its_language() -> None:
    assert messages().text("goodbye", "sw-KE") == _raw("sw")["goodbye"]
    assert messages().text("goodbye", "PT_mz") == _raw("pt")["goodbye"]
    assert messages().has("ar_EG")


def test_a_key_missing_from_a_partial_catalog_falls_back() -> None:
    catalog = Catalog({"en": {"hi": "Hello {name}", "bye": "Bye"}, "sw": {"hi": "Habari {name}"}, "fr": {}})
    assert catalog.text("hi", "sw", name="Amina") == "Habari Amina"
    assert catalog.text("bye", "sw") == "Bye"
    assert catalog.text("bye", "de", fallback="sw") == "Bye"
    assert catalog.keys() == frozenset({"hi", "bye"})
    assert catalog.placeholders("hi", "sw") == frozenset({"name"})


def test_a_catalog_without_english_is_refused() -> None:
    with pytest.raises(ValueError, match="'en'"):
        Catalog({"sw": {"hi": "Habari"}})


def test_placeholders_lists_the_names_a_message_needs() -> None:
    assert messages().placeholders("booking.cancelled_deposit_kept", "ha") == frozenset(
        {"date", "time", "hours", "amount"}
    )
    assert messages().placeholders("goodbye") == frozenset()


def test_every_message_renders_in_every_language_with_its_placeholders() -> None:
    catalog = messages()
    for language in LANGUAGES:
        for key in sorted(catalog.keys()):
            values = {name: f"<{name}>" for name in catalog.placeholders(key, language)}
            text = catalog.text(key, language, **values)
            assert all(f"<{name}>" in text for name in values)
            assert "{" not in text
            assert "}" not in text


def test_messages_is_loaded_once() -> None:
    assert messages() is messages()
