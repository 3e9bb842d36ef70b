"""Language names and the choice of a conversation's language."""

from __future__ import annotations

import pytest

from smeflow.i18n import DEFAULT_LANGUAGE, LANGUAGES, choose_language, language_name, normalize_language


def test_default_language_is_english() -> None:
    assert DEFAULT_LANGUAGE == "en"


@pytest.mark.parametrize(
    ("code", "in_language", "expected"),
    [
        ("pcm", "en", "Nigerian Pidgin"),
        ("sw", "en", "Swahili"),
        ("sw", "sw", "Kiswahili"),
        ("am", "am", "አማርኛ"),
        ("ar", "ar", "العربية"),
        ("yo", "yo", "Èdè Yorùbá"),
        ("fr", "fr", "français"),
        ("zu", "en", "Zulu"),
        ("ha", "fr", "haoussa"),
    ],
)
def test_language_name(code: str, in_language: str, expected: str) -> None:
    assert language_name(code, in_language) == expected


def test_every_language_has_an_english_name() -> None:
    names = [language_name(code) for code in LANGUAGES]
    assert all(name and name != code for name, code in zip(names, LANGUAGES, strict=True))


def test_an_unknown_language_cannot_be_named() -> None:
    with pytest.raises(ValueError, match="'qqq'"):
        language_name("qqq")


@pytest.mark.parametrize(
    ("detected", "supported", "default", "expected"),
    [
        ("sw", ["en", "sw"], "en", "sw"),
        ("sw-KE", ["en", "sw"], "en", "sw"),
        ("SW", ["en", "sw"], "en", "sw"),
        ("yo", ["en", "sw"], "en", "en"),
        (None, ["en", "sw"], "sw", "sw"),
        ("", ["en", "fr"], "fr", "fr"),
        ("pcm", ["pcm", "en"], "en", "pcm"),
        ("am", [], "en", "en"),
    ],
)
def test_choose_language(detected: str | None, supported: list[str], default: str, expected: str) -> None:
    assert choose_language(detected, supported, default) == expected


def test_normalize_language() -> None:
    assert normalize_language(" sw_KE ") == "sw"
    assert normalize_language("PCM-NG") == "pcm"
