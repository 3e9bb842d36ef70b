"""The languages SMEFlow speaks to customers, their names, and which one a conversation uses."""

from __future__ import annotations

from collections.abc import Sequence

from babel import Locale, UnknownLocaleError

LANGUAGES: tuple[str, ...] = (
    "en",
    "sw",
    "ha",
    "yo",
    "ig",
    "pcm",
    "zu",
    "xh",
    "af",
    "am",
    "so",
    "fr",
    "pt",
    "ar",
)
"""The customer languages with a message catalog (ISO 639 codes; ``pcm`` is Nigerian Pidgin)."""

DEFAULT_LANGUAGE = "en"

# English names for codes babel might not name (it names all of LANGUAGES in 2.18).
_ENGLISH_NAMES = {"pcm": "Nigerian Pidgin"}


def normalize_language(code: str) -> str:
    """``"SW"``, ``"sw-KE"``, ``"sw_KE"`` → ``"sw"``: the primary language subtag, lower case."""
    return code.strip().replace("-", "_").split("_", 1)[0].lower()


def language_name(code: str, in_language: str = "en") -> str:
    """The name of language ``code`` written in ``in_language`` (``("sw", "sw")`` → ``"Kiswahili"``).

    Raises ``ValueError`` for a code that neither babel nor SMEFlow knows.
    """
    language = normalize_language(code)
    try:
        name = Locale.parse(language).get_display_name(normalize_language(in_language))
    except (UnknownLocaleError, ValueError):
        name = None
    if name:
        return name
    if language in _ENGLISH_NAMES:
        return _ENGLISH_NAMES[language]
    raise ValueError(f"{code!r} is not a language SMEFlow can name")


def choose_language(detected: str | None, supported: Sequence[str], default: str) -> str:
    """The customer's language if the tenant supports it, else the tenant's ``default``.

    Codes are compared by primary subtag, so a detected ``"sw-KE"`` matches a supported ``"sw"``.
    """
    if detected:
        wanted = normalize_language(detected)
        for code in supported:
            if normalize_language(code) == wanted:
                return code
    return default


__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "choose_language", "language_name", "normalize_language"]
