"""Language detection: pycld2 for most, script rules for Amharic and Arabic, markers for Pidgin,
the tenant's languages for texts too short to tell."""

from __future__ import annotations

import pytest

import smeflow.understanding
from smeflow.understanding import SUPPORTED, detect_language


def test_public_names_are_all() -> None:
    public = {name for name in vars(smeflow.understanding) if not name.startswith("_")}
    public -= {"annotations"}
    assert public == set(smeflow.understanding.__all__)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("habari, nataka kuweka miadi ya kusukwa nywele kesho asubuhi", "sw"),
        ("ina so in yi alƙawari da likita gobe da safe", "ha"),
        ("mo fẹ́ ṣe irun mi ní ọjọ́ Àbámẹ́ta tó ń bọ̀", "yo"),
        ("achọrọ m ịkwụ ụgwọ maka ọrụ ahụ ị rụrụ", "ig"),
        ("ngifuna ukukhokha imali yami yokubhuka namuhla", "zu"),
        ("ndifuna ukuhlawula imali yam ngomso kusasa", "xh"),
        ("ek wil asseblief môre 'n afspraak maak vir my hare", "af"),
        ("waxaan rabaa inaan ballan ka qabsado dhakhtarka berri", "so"),
        ("je voudrais prendre rendez-vous pour une coupe demain matin", "fr"),
        ("quero marcar uma consulta para amanhã de manhã, por favor", "pt"),
        ("I would like to book an appointment for tomorrow morning", "en"),
    ],
)
def test_pycld2_languages(text: str, language: str) -> None:
    detection = detect_language(text)
    assert detection.language == language
    assert detection.reliable
    assert 0.5 < detection.confidence <= 1.0


@pytest.mark.parametrize("text", ["ቀጠሮ መያዝ እፈልጋለሁ", "ሰላም", "ነገ 3 ሰዓት? ok"])
def test_ethiopic_script_is_amharic(text: str) -> None:
    assert detect_language(text) == smeflow.understanding.Detection("am", 0.99, True)


@pytest.mark.parametrize("text", ["أريد حجز موعد غدا", "شكرا", "السلام عليكم 👋"])
def test_arabic_script_is_arabic(text: str) -> None:
    assert detect_language(text).language == "ar"


@pytest.mark.parametrize(
    "text",
    [
        "abeg wetin be una price for braids?",
        "how far, I wan book appointment for tomorrow",
        "I don pay the money, make una check am",
        "no wahala, I go come by 4",
        "una dey open for Sunday?",
    ],
)
def test_nigerian_pidgin_from_marker_words(text: str) -> None:
    detection = detect_language(text)
    assert detection.language == "pcm"
    assert detection.confidence >= 0.6


@pytest.mark.parametrize(
    "text",
    ["I don't know what time you open", "Can we do it on Monday at the salon?", "I want to pay by card"],
)
def test_plain_english_is_not_pidgin(text: str) -> None:
    assert detect_language(text).language == "en"


def test_short_texts_fall_back_to_the_tenants_languages() -> None:
    # "ok" alone says nothing: the tenant's default language is the answer, not trusted.
    short = detect_language("ok", candidates=["sw", "en"], default="sw")
    assert short.language == "sw"
    assert not short.reliable
    # a short text pycld2 places among the candidates keeps its language, still unreliable.
    habari = detect_language("habari", candidates=["sw", "en"], default="en")
    assert habari.language == "sw"
    assert not habari.reliable
    # without candidates or default, an unknown short text is unknown.
    assert detect_language("ok").language is None
    # a text of four words or more is decided by its words, not by the default.
    long = detect_language("I would like to book", candidates=["sw"], default="sw")
    assert long.language == "en"


def test_empty_text_gets_the_default() -> None:
    assert detect_language("  ?! ", default="ha") == smeflow.understanding.Detection("ha", 0.0, False)


def test_every_detected_code_is_supported() -> None:
    for text in ["bonjour", "hallo daar", "salaam", "sawubona", "xyzzy qwrt", "12345", "😀😀"]:
        language = detect_language(text).language
        assert language is None or language in SUPPORTED
