"""Customers' names from self-introductions ("my name is X", "jina langu ni X", "sunana X"…).

Patterns per language are matched on the original text (case kept) and take one to three
capitalised-or-not words after the phrase, stopping at punctuation and at words that end a
name ("and", "na", "from", "here"…). Lower-case names are title-cased ("jina langu ni amina"
→ "Amina").
"""

from __future__ import annotations

import re

from smeflow.understanding._text import words_of

_INTRO = [
    r"my name is", r"my names are", r"name'?s", r"i am", r"i'm", r"this is", r"call me", r"it'?s",
    r"na me be", r"my name na", r"jina langu ni", r"naitwa", r"mimi ni", r"ni mimi",
    r"sunana", r"sunana shi ne", r"ni ne", r"orúkọ mi ni", r"oruko mi ni", r"èmi ni", r"emi ni",
    r"aha m bụ", r"aha m bu", r"abụ m", r"abu m", r"igama lami ngu-?", r"igama lam ngu-?",
    r"ngingu-?", r"ndingu-?", r"my naam is", r"ek is", r"ek heet", r"je m'appelle", r"je suis",
    r"moi c'est", r"mon nom est", r"chamo-me", r"o meu nome é", r"meu nome é", r"sou o", r"sou a",
    r"magacaygu waa", r"magacaygu", r"waxaan ahay", r"اسمي", r"أنا", r"ስሜ", r"እኔ",
]  # fmt: skip
_STOP = words_of(
    """and na from here calling please pls i want nataka kutoka wa of de et e y ne ni a da but lakini und en
    ya la le el the"""
)
_NAME_WORD = r"[^\W\d_][^\W\d_'\u2019.-]*(?:[-'\u2019][^\W\d_]+)?"
_PATTERN = re.compile(
    r"(?:^|(?<=[\s,.;:!?]))(?:" + "|".join(sorted(_INTRO, key=len, reverse=True)) + r")\s*"
    rf"(?P<name>{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}})",
    re.IGNORECASE | re.UNICODE,
)
# "I am" / "ek is" / "je suis" / "mimi ni" also introduce states ("I am late", "je suis en retard"):
_WEAK = frozenset(
    {"i am", "i'm", "ek is", "je suis", "mimi ni", "this is", "it's", "its", "ni ne", "sou o", "sou a"}
)
_NOT_NAMES = words_of(
    """late coming sorry fine good okay ok here there on in at not going able busy sick outside waiting new a
    an the interested happy sure ready done back available free en au chez retard malade mgonjwa sawa poa
    njiani hapa nje"""
)


def find_names(text: str) -> tuple[str, ...]:
    """Names customers give for themselves in ``text``, title-cased, in order, without repeats."""
    out: list[str] = []
    for m in _PATTERN.finditer(text):
        intro = m.group(0)[: m.start("name") - m.start()].strip().casefold()
        words: list[str] = []
        for word in m["name"].split():
            if word.casefold() in _STOP:
                break
            words.append(word)
        if not words or words[0].casefold() in _NOT_NAMES:
            continue
        if intro in _WEAK and not words[0][0].isupper():
            continue  # "i am late": a weak introduction needs a capitalised name
        if intro in _WEAK:
            words = words[:2] if len(words) > 1 and words[1][:1].isupper() else words[:1]
        name = " ".join(w if w[:1].isupper() else w.capitalize() for w in words)
        if name not in out:
            out.append(name)
    return tuple(out)


__all__ = ["find_names"]
