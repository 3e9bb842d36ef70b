"""Short replies understood in every language: whole-message matches, punctuation trimmed."""

from __future__ import annotations

import dataclasses

import pytest

from smeflow.i18n import LANGUAGES, Vocabulary, is_no, is_yes, normalize_reply, vocabulary


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("ndiyo", "sw"),
        ("Ndio!", "sw"),
        ("sawa", "sw"),
        ("naam", "sw"),
        ("na so", "pcm"),
        ("Ehen", "pcm"),
        ("bẹ́ẹ̀ni", "yo"),
        ("Beeni", "yo"),
        ("ee", "ig"),
        ("to", "ha"),
        ("Na'am", "ha"),
        ("yebo", "zu"),
        ("Ewe.", "xh"),
        ("ja", "af"),
        ("አዎ", "am"),
        ("እሺ።", "am"),
        ("haa", "so"),
        ("Oui", "fr"),
        ("d'accord", "fr"),
        ("sim", "pt"),
        ("نعم", "ar"),
        ("YES", "ha"),
        ("  yes!! ", "zu"),
        ("ok", "ar"),
    ],
)
def test_yes_words(text: str, language: str) -> None:
    assert is_yes(text, language)
    assert not is_no(text, language)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("hapana", "sw"),
        ("a'a", "ha"),
        ("rárá", "yo"),
        ("rara", "yo"),
        ("mba", "ig"),
        ("cha", "zu"),
        ("hayi", "xh"),
        ("nee", "af"),
        ("አይ", "am"),
        ("maya", "so"),
        ("Non.", "fr"),
        ("não", "pt"),
        ("لا؟", "ar"),
        ("NO", "pcm"),
        ("no", "sw"),
    ],
)
def test_no_words(text: str, language: str) -> None:
    assert is_no(text, language)
    assert not is_yes(text, language)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("ndiyo lakini kesho", "sw"),  # not a whole-message yes
        ("yes no", "en"),
        ("", "en"),
        ("!!!", "en"),
        ("oui", "sw"),  # French yes is not Swahili
        ("1", "en"),  # menu numbers are not yes/no
        ("nao", "sw"),
    ],
)
def test_neither_yes_nor_no(text: str, language: str) -> None:
    assert not is_yes(text, language)
    assert not is_no(text, language)


def test_accents_are_kept() -> None:
    # "rárá" and "rara" are both listed; an accent the lists do not have is not stripped away.
    assert not is_yes("bèèni", "yo")


def test_an_unknown_language_uses_the_english_words() -> None:
    assert is_yes("yeah", "rw")
    assert vocabulary("rw").language == "en"
    assert vocabulary("sw-KE").language == "sw"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_vocabulary_has_the_english_commands_and_no_word_in_two_lists(language: str) -> None:
    words = vocabulary(language)
    assert "yes" in words.yes
    assert "no" in words.no
    assert "stop" in words.stop
    assert "start" in words.start
    assert "help" in words.help
    assert "agent" in words.human
    lists = {field.name: getattr(words, field.name) for field in dataclasses.fields(Vocabulary)}
    lists.pop("language")
    seen: dict[str, str] = {}
    for name, entries in lists.items():
        assert len(entries) >= 1
        for word in entries:
            assert word == normalize_reply(word)
            assert seen.setdefault(word, name) == name, f"{word!r} is both {seen[word]} and {name}"


@pytest.mark.parametrize("language", [language for language in LANGUAGES if language != "en"])
def test_every_vocabulary_has_local_words(language: str) -> None:
    words, english = vocabulary(language), vocabulary("en")
    for field in ("yes", "no", "stop", "start", "help", "human"):
        local = getattr(words, field) - getattr(english, field)
        assert local, f"{language} {field} has only English words"


def test_vocabulary_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        vocabulary("sw").yes = frozenset()  # type: ignore[misc]


def test_normalize_reply() -> None:
    assert normalize_reply("  Ndiyo!! ") == "ndiyo"
    assert normalize_reply("¿Sí?") == "sí"
    assert normalize_reply("na   so.") == "na so"
    assert normalize_reply("«oui»") == "oui"
