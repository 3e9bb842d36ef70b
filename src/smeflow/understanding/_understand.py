"""One call for a customer message: language, intent and slots, with the time each part took."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from smeflow.understanding._intents import IntentMatch, IntentModel
from smeflow.understanding._language import Detection, detect_language
from smeflow.understanding._slots import Slots, extract_slots
from smeflow.understanding._text import normalize


@dataclass(frozen=True, slots=True)
class Understanding:
    """What SMEFlow understood of a message; ``timings`` are microseconds per part."""

    text: str
    language: Detection
    intent: IntentMatch
    slots: Slots
    timings: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


def _us(start: float) -> int:
    return int((time.perf_counter() - start) * 1_000_000)


def understand(
    text: str,
    *,
    model: IntentModel,
    candidates: Sequence[str] | None,
    default_language: str | None,
    country: str | None,
    timezone: str,
    now: datetime,
    default_currency: str | None,
) -> Understanding:
    """Detect the language of ``text``, match its intent with ``model`` and extract its slots.

    ``timings`` holds ``language``, ``embedding``, ``intent`` (matching after embedding),
    ``slots`` and ``total``, in microseconds.
    """
    started = time.perf_counter()
    t = time.perf_counter()
    detection = detect_language(text, candidates=candidates, default=default_language)
    language_us = _us(t)
    t = time.perf_counter()
    core = model.core_text(text)
    vector = model.embed_core(core) if normalize(core) else None
    embedding_us = _us(t)
    t = time.perf_counter()
    match = (
        model.match_vector(core, vector, detection.language) if vector is not None else IntentMatch(None, 0.0)
    )
    intent_us = _us(t)
    t = time.perf_counter()
    slots = extract_slots(
        text,
        language=detection.language,
        country=country,
        timezone=timezone,
        now=now,
        default_currency=default_currency,
    )
    slots_us = _us(t)
    timings = {
        "language": language_us,
        "embedding": embedding_us,
        "intent": intent_us,
        "slots": slots_us,
        "total": _us(started),
    }
    return Understanding(text, detection, match, slots, MappingProxyType(timings))


__all__ = ["Understanding", "understand"]
