"""The short replies customers type, per language: yes, no, stop, start, help, a person.

Words are compared casefolded and NFC-normalised with their accents kept (Yoruba ``bẹ́ẹ̀ni``
is not ``beeni``; the lists carry the common unaccented spellings too). A reply matches only
as a whole message, after surrounding punctuation and spaces are trimmed.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

from smeflow.i18n._languages import DEFAULT_LANGUAGE, LANGUAGES, normalize_language

_FIELDS = ("yes", "no", "stop", "start", "help", "human")


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The words of one language that mean each short reply (casefolded, NFC)."""

    language: str
    yes: frozenset[str]
    no: frozenset[str]
    stop: frozenset[str]
    start: frozenset[str]
    help: frozenset[str]
    human: frozenset[str]


def normalize_reply(text: str) -> str:
    """``"  Ndiyo!! "`` → ``"ndiyo"``: NFC, casefolded, inner spaces collapsed, punctuation trimmed."""
    folded = " ".join(unicodedata.normalize("NFC", text).casefold().split())
    start, end = 0, len(folded)
    while start < end and _is_trimmed(folded[start]):
        start += 1
    while end > start and _is_trimmed(folded[end - 1]):
        end -= 1
    return folded[start:end]


def _is_trimmed(char: str) -> bool:
    return char.isspace() or unicodedata.category(char).startswith("P")


@cache
def vocabulary(language: str) -> Vocabulary:
    """The reply words of ``language``; a language without a list gets the English one."""
    code = normalize_language(language)
    if code not in LANGUAGES:
        code = DEFAULT_LANGUAGE
    source = resources.files("smeflow.i18n").joinpath("vocabulary", f"{code}.json")
    data = json.loads(source.read_text(encoding="utf-8"))
    words: dict[str, frozenset[str]] = {}
    for field in _FIELDS:
        entries = data.get(field)
        if not isinstance(entries, list) or not all(isinstance(word, str) for word in entries):
            raise ValueError(f"vocabulary {code}.json: {field!r} is not a list of words")
        words[field] = frozenset(normalize_reply(word) for word in entries) - {""}
    return Vocabulary(language=code, **words)


def is_yes(text: str, language: str) -> bool:
    """True if the whole reply is a word for "yes" in ``language`` (English words included)."""
    return normalize_reply(text) in vocabulary(language).yes


def is_no(text: str, language: str) -> bool:
    """True if the whole reply is a word for "no" in ``language`` (English words included)."""
    return normalize_reply(text) in vocabulary(language).no


__all__ = ["Vocabulary", "is_no", "is_yes", "normalize_reply", "vocabulary"]
