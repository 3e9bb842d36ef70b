"""The words a customer types to steer a form, and SMEFlow's own words shown with a question.

* **Skip** an optional question: the language's skip word (shown in the prompt, upper case),
  or any language's skip word, compared with :func:`smeflow.understanding.normalize` (case and
  accents folded), or ``-``. A required question cannot be skipped.
* **Back** one question, and on USSD one page of options: ``00`` (see ``_ussd``).
* **More** options on a USSD page: ``0``.

The messages themselves come from the i18n catalogs (``form.*`` keys); this module only adds
the per-language skip word, which the ``form.optional`` hint names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smeflow.i18n import DEFAULT_LANGUAGE, messages, normalize_language
from smeflow.understanding import normalize

#: The word each language's prompt offers for skipping an optional question (upper case, as
#: command words are shown); the first is shown, all are accepted.
SKIP_WORDS: Mapping[str, tuple[str, ...]] = {
    "en": ("SKIP", "next", "pass", "none"),
    "sw": ("RUKA", "ruka swali", "hakuna"),
    "ha": ("TSALLAKE", "tsallake shi"),
    "yo": ("FO", "fò ó", "ko si"),
    "ig": ("GAFEE", "gafe"),
    "pcm": ("PASS", "leave am", "no get"),
    "zu": ("EQA", "yeqa"),
    "xh": ("TSIBA", "tsiba"),
    "af": ("OORSLAAN", "slaan oor"),
    "am": ("ዝለል", "እለፍ"),
    "so": ("KA BOOD", "ka gudub"),
    "fr": ("PASSER", "suivant", "aucun"),
    "pt": ("SALTAR", "pular", "nenhum"),
    "ar": ("تخطي", "تخطى"),
}

BACK = "00"
MORE = "0"

_ALL_SKIP_WORDS = frozenset(normalize(word) for words in SKIP_WORDS.values() for word in words) | {"skip"}


def skip_word(language: str) -> str:
    """The skip word a prompt in ``language`` shows (``RUKA`` in Swahili; ``SKIP`` by default)."""
    return SKIP_WORDS.get(normalize_language(language), SKIP_WORDS[DEFAULT_LANGUAGE])[0]


def is_skip(text: str) -> bool:
    """Whether the whole reply asks to skip the question (in any language, or ``-``)."""
    stripped = text.strip()
    return stripped == "-" or (bool(stripped) and normalize(stripped) in _ALL_SKIP_WORDS)


def say(key: str, language: str, **values: Any) -> str:
    """Catalog message ``key`` in ``language`` (English when the language has no catalog)."""
    return messages().text(key, language, **values)


def yes_no_labels(language: str) -> tuple[str, str]:
    """The "Yes" and "No" of ``language``, taken from the ``form.yes_no`` menu lines."""
    lines = say("form.yes_no", language).split("\n")
    yes, no = (line.split(". ", 1)[-1].strip() for line in lines[:2])
    return yes, no


__all__ = ["BACK", "MORE", "SKIP_WORDS", "is_skip", "say", "skip_word", "yes_no_labels"]
