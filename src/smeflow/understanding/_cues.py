"""Cue words: a small hand-written lexicon of words that signal an intent on their own.

A cue is written as a pattern over *normalised* words (see :func:`normalize`):

* ``stem*`` — a word that starts with ``stem`` (``cancel*`` matches "cancelled");
* ``*stem*`` — a word that contains ``stem`` (Bantu verbs take prefixes: ``*khansel*`` matches
  Zulu "nikhansele"); scripts without spaces between morphemes (Ethiopic) use this too;
* ``*stem`` — a word that ends with ``stem`` (``*bonga`` matches "ngiyabonga");
* ``^word`` / ``^two words`` — the message's first word(s) (``^yes``, ``^o se``): answers lead;
* ``two words`` — the words in sequence anywhere in the message;
* ``word`` — exactly that word.

A pattern may be scoped to languages with a prefix: ``sw,ar:^la`` ("la" is "no" in Swahili
and Arabic, an article in French).

Key contract: cues of the *task* intents (anything but the social ones, see ``SOCIAL``) win
over social cues — "merci de ne plus m'envoyer de SMS" carries a thanks word but is an opt-out,
"ẹ kú àárọ̀, ṣé mo lè rí àyè…" opens with a greeting but asks for a booking.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from smeflow.understanding._text import normalize

SOCIAL = frozenset({"greeting", "thanks", "yes", "no"})


@dataclass(frozen=True, slots=True)
class _Cue:
    kind: str  # "prefix" | "infix" | "suffix" | "first" | "phrase" | "word"
    value: str
    languages: frozenset[str] | None

    def hits(self, tokens: Sequence[str], padded: str, language: str | None) -> bool:
        if self.languages is not None and language not in self.languages:
            return False
        if self.kind == "first":
            return padded.startswith(f" {self.value} ")
        if self.kind == "phrase":
            return f" {self.value} " in padded
        if self.kind == "prefix":
            if " " in self.value:
                return f" {self.value}" in padded
            return any(t.startswith(self.value) for t in tokens)
        if self.kind == "infix":
            return any(self.value in t for t in tokens)
        if self.kind == "suffix":
            return any(t.endswith(self.value) for t in tokens)
        return self.value in tokens


def _parse(pattern: str) -> _Cue:
    languages: frozenset[str] | None = None
    head, sep, rest = pattern.partition(":")
    if sep and head and all(part.isalpha() and len(part) <= 3 for part in head.split(",")):
        languages = frozenset(head.split(","))
        pattern = rest
    if pattern.startswith("^"):
        return _Cue("first", normalize(pattern[1:]), languages)
    if pattern.startswith("*") and pattern.endswith("*"):
        return _Cue("infix", normalize(pattern.strip("*")), languages)
    if pattern.startswith("*"):
        return _Cue("suffix", normalize(pattern[1:]), languages)
    if pattern.endswith("*"):
        return _Cue("prefix", normalize(pattern[:-1]), languages)
    value = normalize(pattern)
    return _Cue("phrase" if " " in value else "word", value, languages)


@dataclass(frozen=True, slots=True)
class CueLexicon:
    """Compiled cue patterns by intent; :meth:`score` says which intents a message cues."""

    cues: Mapping[str, tuple[_Cue, ...]]

    @classmethod
    def from_patterns(cls, patterns: Mapping[str, Iterable[str]]) -> CueLexicon:
        """Compile ``{intent: [pattern, ...]}`` (the syntax is in the module docstring)."""
        return cls({intent: tuple(_parse(p) for p in pats if p.strip()) for intent, pats in patterns.items()})

    def score(self, normalized: str, language: str | None = None) -> dict[str, float]:
        """1.0 for each intent with a cue in ``normalized`` text (social cues only if no task cue)."""
        tokens = normalized.split()
        padded = f" {normalized} "
        hit = {
            intent
            for intent, cues in self.cues.items()
            if any(cue.hits(tokens, padded, language) for cue in cues)
        }
        if hit - SOCIAL:
            hit -= SOCIAL
        return dict.fromkeys(hit, 1.0)


__all__ = ["SOCIAL", "CueLexicon"]
