"""Personal data kept out of prompts: phone numbers, email addresses, card numbers and national
ID numbers become placeholders (``<PHONE_1>``) before a model sees the text, unless the tenant's
residency policy allows personal data to reach language models (``pii_to_llm``).

The same value always gets the same placeholder within one turn, and :meth:`Redactor.restore`
puts the values back into what the model returns (its reply, and the arguments of the tools it
calls), so a tool still receives the real phone number while the provider never saw it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
#: a run of 9 to 19 digits (spaces and dashes allowed between them) that is not a phone number
#: phonenumbers recognised: an ID, an account or a card number, or a phone number it does not know
_DIGITS = re.compile(r"(?<![\w<])(?:\d[ -]?){8,18}\d(?![\w>])")
_PLACEHOLDER = re.compile(r"<(PHONE|EMAIL|CARD|ID)_(\d+)>")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


@dataclass(slots=True)
class Redactor:
    """Redacts within one turn; ``region`` is the tenant's country, for local phone numbers."""

    region: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    _by_value: dict[tuple[str, str], str] = field(default_factory=dict)

    def _mark(self, kind: str, value: str) -> str:
        existing = self._by_value.get((kind, value))
        if existing is not None:
            return existing
        count = 1 + sum(1 for k, _ in self._by_value if k == kind)
        placeholder = f"<{kind}_{count}>"
        self._by_value[(kind, value)] = placeholder
        self.values[placeholder] = value
        return placeholder

    def redact(self, text: str) -> str:
        """``text`` with personal data replaced by placeholders."""
        text = _EMAIL.sub(lambda m: self._mark("EMAIL", m.group(0)), text)
        spans: list[tuple[int, int, str]] = []
        for phone in phonenumbers.PhoneNumberMatcher(text, self.region or "ZZ"):
            spans.append((phone.start, phone.end, self._mark("PHONE", phone.raw_string)))
        for found in _DIGITS.finditer(text):
            if any(s < found.end() and found.start() < e for s, e, _ in spans):
                continue
            digits = re.sub(r"\D", "", found.group(0))
            kind = "CARD" if 13 <= len(digits) <= 19 and _luhn(digits) else "ID"
            spans.append((found.start(), found.end(), self._mark(kind, found.group(0))))
        for start, end, placeholder in sorted(spans, reverse=True):
            text = text[:start] + placeholder + text[end:]
        return text

    def restore(self, value: Any) -> Any:
        """``value`` (text, or JSON) with the placeholders this redactor made put back."""
        if isinstance(value, str):
            return _PLACEHOLDER.sub(lambda m: self.values.get(m.group(0), m.group(0)), value)
        if isinstance(value, list):
            return [self.restore(v) for v in value]
        if isinstance(value, dict):
            return {k: self.restore(v) for k, v in value.items()}
        return value


__all__ = ["Redactor"]
