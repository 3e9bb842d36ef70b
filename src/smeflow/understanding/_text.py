"""Normalising customer text for comparison: case, accents, punctuation and spacing removed.

``normalize("Ẹ jọ̀ọ́, CANCEL!!")`` is ``"e jooo cancel"``: lower case, diacritics stripped
(customers type Yoruba, Igbo, French and Afrikaans with and without them), every run of
punctuation or symbols turned into one space. Letters of scripts without combining marks
(Ethiopic, Arabic) are kept as they are, except Arabic hamza carriers, which decompose to
the bare letter.
"""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalize(text: str) -> str:
    """``text`` lower-cased, without diacritics and punctuation, single-spaced."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NOT_WORD.sub(" ", bare).split())


def words(text: str) -> list[str]:
    """The normalised words of ``text``."""
    return normalize(text).split()


def words_of(text: str) -> frozenset[str]:
    """The whitespace-separated words of a word-list literal, as a set (kept as written)."""
    return frozenset(text.split())


__all__ = ["normalize", "words", "words_of"]
