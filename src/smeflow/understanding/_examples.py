"""The example utterances shipped with SMEFlow, and merging a template's own on top.

``intents/default.json`` holds ``{intent: {language: [utterance, ...]}}`` for the eleven
default intents in the fourteen supported languages; ``intents/cues.json`` the cue-word
patterns (see :mod:`smeflow.understanding._cues`). Both are read once per process.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

Examples = Mapping[str, Iterable[str]]


def _load(name: str) -> dict[str, Any]:
    raw = resources.files("smeflow.understanding").joinpath("intents", name).read_text("utf-8")
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError(f"intents/{name} must hold an object")  # a packaging error
    return data


@cache
def _default_by_language() -> dict[str, dict[str, tuple[str, ...]]]:
    data = _load("default.json")
    return {
        intent: {lang: tuple(str(x) for x in texts) for lang, texts in by_lang.items()}
        for intent, by_lang in data.items()
    }


def default_examples_by_language() -> dict[str, dict[str, tuple[str, ...]]]:
    """The shipped examples as ``{intent: {language: (utterance, ...)}}``."""
    return {intent: dict(by) for intent, by in _default_by_language().items()}


def default_examples(languages: Iterable[str] | None = None) -> dict[str, tuple[str, ...]]:
    """The shipped examples as ``{intent: (utterance, ...)}``, optionally only some languages."""
    wanted = None if languages is None else set(languages)
    return {
        intent: tuple(t for lang, texts in by.items() if wanted is None or lang in wanted for t in texts)
        for intent, by in _default_by_language().items()
    }


@cache
def _default_cues() -> dict[str, tuple[str, ...]]:
    return {intent: tuple(str(p) for p in pats) for intent, pats in _load("cues.json").items()}


def default_cues() -> dict[str, tuple[str, ...]]:
    """The shipped cue-word patterns as ``{intent: (pattern, ...)}``."""
    return dict(_default_cues())


def merge_examples(*sets: Examples) -> dict[str, tuple[str, ...]]:
    """Union of example sets by intent, in order, without repeating an utterance.

    ``merge_examples(default_examples(), {"book": ["nataka kupaka hina"], "track": [...]})``
    adds a template's phrasings to a default intent and a new intent of its own.
    """
    out: dict[str, list[str]] = {}
    for examples in sets:
        for intent, texts in examples.items():
            bucket = out.setdefault(intent, [])
            for text in texts:
                if text not in bucket:
                    bucket.append(text)
    return {intent: tuple(texts) for intent, texts in out.items()}


__all__ = ["Examples", "default_cues", "default_examples", "default_examples_by_language", "merge_examples"]
