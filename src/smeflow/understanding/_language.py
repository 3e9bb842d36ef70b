"""Language detection for short customer messages: pycld2 plus rules it lacks.

* Ethiopic script → Amharic (``am``); Arabic script → Arabic (``ar``), decided by the share of
  letters in that script, before pycld2 is asked.
* Nigerian Pidgin (``pcm``) is unknown to pycld2, which reads it as English: when the text
  scores as English or unknown and carries Pidgin marker words ("wetin", "abeg", "dey", "how
  far", "no wahala"…), it is Pidgin.
* One to three words are too few for pycld2: its answer is kept only if it is one of the
  ``candidates`` (the tenant's languages); otherwise the answer is the default (or the first
  candidate), marked unreliable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pycld2

from smeflow.understanding._text import normalize, words_of

SUPPORTED = ("en", "sw", "ha", "yo", "ig", "pcm", "zu", "xh", "af", "am", "so", "fr", "pt", "ar")

_ETHIOPIC = re.compile(r"[\u1200-\u139f\u2d80-\u2ddf\uab00-\uab2f]")
_ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)

# Words that English does not use (or not this way) and Pidgin does (each counts 2), and
# phrases (each counts 1, "how far" and "no wahala" 2); Pidgin needs a score of 2.
_PIDGIN_WORDS = words_of(
    "wetin abeg una dey sabi comot wahala oga abi sef wey dem don wan pikin shey sha oya jare nawa ehen yarn "
    "wahalla tanx"
)
_PIDGIN_PHRASES = {
    "how far": 2,
    "how body": 2,
    "how market": 2,
    "na so": 2,
    "i no": 1,
    "e don": 1,
    "e be": 1,
    "no be": 1,
    "make we": 1,
    "make una": 1,
    "i go": 1,
    "i fit": 1,
    "e no": 1,
    "o": 1,
}
_SHORT = 3  # words


@dataclass(frozen=True, slots=True)
class Detection:
    """The detected language (``None`` if unknown), a confidence 0..1 and whether to trust it."""

    language: str | None
    confidence: float
    reliable: bool


def _script_share(text: str, pattern: re.Pattern[str]) -> float:
    letters = _LETTER.findall(text)
    if not letters:
        return 0.0
    return sum(1 for c in letters if pattern.match(c)) / len(letters)


def _pidgin_score(text: str) -> int:
    normalized = normalize(re.sub(r"['\u2019]", "", text))  # "don't" is "dont", not "don"
    padded = f" {normalized} "
    score = sum(2 for t in normalized.split() if t in _PIDGIN_WORDS)
    return score + sum(w for p, w in _PIDGIN_PHRASES.items() if f" {p} " in padded)


def _cld(text: str, allowed: frozenset[str]) -> tuple[str | None, float, bool]:
    """pycld2's best guess among ``allowed`` (its top three), its share 0..1, and reliability."""
    try:
        reliable, _, details = pycld2.detect(text, bestEffort=True)
    except pycld2.error:
        return None, 0.0, False
    for rank, (_, code, percent, _) in enumerate(details):
        if code in allowed and percent > 0:
            return code, percent / 100.0, bool(reliable) and rank == 0
    return None, 0.0, False


def _fallback(candidates: Sequence[str] | None, default: str | None) -> str | None:
    if default is not None:
        return default
    return candidates[0] if candidates else None


def detect_language(
    text: str,
    *,
    candidates: Sequence[str] | None = None,
    default: str | None = None,
) -> Detection:
    """The language of ``text`` as an ISO 639-1 code (``pcm`` for Nigerian Pidgin).

    ``candidates`` are the languages the tenant's customers write in; for texts of one to three
    words (and whenever pycld2 cannot tell) a language outside them gives way to ``default``
    (or the first candidate), with ``reliable=False``.
    """
    normalized = normalize(text)
    if not normalized:
        return Detection(_fallback(candidates, default), 0.0, False)
    if _script_share(text, _ETHIOPIC) >= 0.5:
        return Detection("am", 0.99, True)
    if _script_share(text, _ARABIC) >= 0.5:
        return Detection("ar", 0.99, True)
    short = len(normalized.split()) <= _SHORT
    code, confidence, reliable = _cld(text, frozenset(SUPPORTED) - {"pcm"})
    if code in (None, "en") and (not candidates or "pcm" in candidates or code is None):
        pidgin = _pidgin_score(text)
        if pidgin >= 2:
            return Detection("pcm", min(0.95, 0.5 + 0.1 * pidgin), not short)
    if short or code is None:
        if code is not None and (not candidates or code in candidates):
            # a short text pycld2 places among the tenant's languages: kept, but not trusted.
            return Detection(code, min(confidence, 0.5), False)
        fallback = _fallback(candidates, default)
        return Detection(fallback, 0.3 if fallback else 0.0, False)
    return Detection(code, confidence if reliable else confidence * 0.6, reliable)


__all__ = ["SUPPORTED", "Detection", "detect_language"]
