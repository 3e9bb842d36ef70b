"""Reading choices typed on a phone: by number, by label, or by the start of a label.

* A number picks the option with that number (``2`` is the second option), also when the
  options are themselves numbers: the prompt always shows the numbers.
* Otherwise a label matches when it equals the option with case, accents and punctuation
  folded (:func:`smeflow.understanding.normalize`), or is the start of exactly one option
  (``hair`` for ``Haircut``; a WhatsApp title shortened with ``...`` reads the same way).
* Several choices are separated by ``,`` ``;`` ``&`` ``+`` ``/``, by spaces between numbers
  (``1 3``), or by a word for "and" in the customer's languages (``1 and 3``, ``1 na 3``,
  ``1 da 3``, ``1 àti 3``, ``1 et 3``…). They come back in the options' order, each once.
* A keypad without a comma (USSD on a feature phone): with at most nine options, a run of
  digits that is no option's number is read digit by digit (``13`` is options 1 and 3).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from smeflow.i18n import format_list
from smeflow.understanding import normalize

_AND_WORDS = (
    "and", "na", "da", "ati", "àti", "et", "e", "en", "le", "kanye", "kunye", "iyo", "ee", "و",
    "እና", "plus",
)  # fmt: skip
_SEPARATORS = r"[,;&+/،]"
_NUMBERS = re.compile(r"\d+(?:\s+\d+)*")


def parse_choice(text: str, options: Sequence[str]) -> str | None:
    """The one option ``text`` names (by number, label or unique label prefix), else ``None``."""
    stripped = text.strip().rstrip(".)")
    if stripped.isdecimal():
        index = int(stripped)
        return options[index - 1] if 1 <= index <= len(options) else None
    wanted = normalize(stripped.rstrip(".…"))
    if not wanted:
        return None
    folded = [normalize(option) for option in options]
    for option, name in zip(options, folded, strict=True):
        if name == wanted:
            return option
    starting = [option for option, name in zip(options, folded, strict=True) if name.startswith(wanted)]
    return starting[0] if len(starting) == 1 else None


def _and_pattern(language: str) -> re.Pattern[str]:
    local = format_list(["\x00", "\x01"], language).split("\x00")[-1].split("\x01")[0].strip(" ,")
    words = sorted({*_AND_WORDS, *([local] if local else [])}, key=len, reverse=True)
    alternation = "|".join(re.escape(word) for word in words)
    return re.compile(rf"\s*{_SEPARATORS}\s*|\s+(?:{alternation})\s+", re.IGNORECASE)


def _parts(text: str, language: str) -> list[str]:
    parts: list[str] = []
    for chunk in _and_pattern(language).split(text.strip()):
        if not chunk.strip():
            continue
        parts.extend(chunk.split() if _NUMBERS.fullmatch(chunk.strip()) else [chunk])
    return parts


def _pick(parts: Sequence[str], options: Sequence[str]) -> list[str] | None:
    chosen = set()
    for part in parts:
        option = parse_choice(part, options)
        if option is None:
            return None
        chosen.add(option)
    return [option for option in options if option in chosen] or None


def parse_choices(text: str, options: Sequence[str], language: str) -> list[str] | None:
    """The options ``text`` names (``1,3``, ``1 and 3``, ``1 na 3``, labels), in the options'
    order, each once; ``None`` when any part names no option (or nothing is named). A list of
    numbers always means options by number, even if some label reads like it."""
    parts = _parts(text, language)
    if len(parts) > 1 and all(part.strip().rstrip(".)").isdecimal() for part in parts):
        return _pick(parts, options)
    whole = parse_choice(text, options)
    if whole is not None:
        return [whole]
    stripped = text.strip()
    if stripped.isdecimal() and len(stripped) > 1 and len(options) <= 9:
        return parse_choices(" ".join(stripped), options, language)
    return _pick(parts, options)


__all__ = ["parse_choice", "parse_choices"]
