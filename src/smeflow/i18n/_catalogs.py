"""Message catalogs: one flat JSON object of key → message per language, read once.

Messages use ``str.format`` placeholders with simple names (``{business}``); the loader refuses
anything else (attribute or index access, conversions, format specs), so a catalog can never
reach into the values it is given.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from smeflow.i18n._languages import DEFAULT_LANGUAGE, LANGUAGES, normalize_language

_FORMATTER = string.Formatter()


class UnknownMessageError(KeyError):
    """A message key that the English catalog does not have."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0]) if self.args else "unknown message"


class MissingPlaceholderError(ValueError):
    """A message needs a value that the caller did not give."""


def _placeholders(message: str, where: str) -> frozenset[str]:
    names: set[str] = set()
    for _literal, field, spec, conversion in _FORMATTER.parse(message):
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise ValueError(f"{where}: placeholder {{{field}}} is not a simple name")
        names.add(field)
    return frozenset(names)


def _load(language: str) -> dict[str, str]:
    source = resources.files("smeflow.i18n").joinpath("catalogs", f"{language}.json")
    data = json.loads(source.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"catalog {language}.json is not a JSON object")
    for key, message in data.items():
        if not isinstance(message, str):
            raise ValueError(f"catalog {language}.json: {key!r} is not a string")
        _placeholders(message, f"catalog {language}.json, {key!r}")
    return data


class Catalog:
    """The messages of every language in :data:`LANGUAGES`; use the shared one, :func:`messages`."""

    def __init__(self, catalogs: Mapping[str, Mapping[str, str]]) -> None:
        if DEFAULT_LANGUAGE not in catalogs:
            raise ValueError(f"a catalog needs the {DEFAULT_LANGUAGE!r} messages")
        self._catalogs = {language: dict(entries) for language, entries in catalogs.items()}

    @classmethod
    def load(cls) -> Catalog:
        """Read the catalogs shipped in the package."""
        return cls({language: _load(language) for language in LANGUAGES})

    def has(self, language: str) -> bool:
        """True if there is a catalog for ``language`` (``"sw-KE"`` counts as ``"sw"``)."""
        return normalize_language(language) in self._catalogs

    def languages(self) -> tuple[str, ...]:
        """The languages with a catalog."""
        return tuple(self._catalogs)

    def keys(self) -> frozenset[str]:
        """Every message key (those of the English catalog)."""
        return frozenset(self._catalogs[DEFAULT_LANGUAGE])

    def _message(self, key: str, language: str, fallback: str) -> str:
        english = self._catalogs[DEFAULT_LANGUAGE]
        if key not in english:
            raise UnknownMessageError(f"there is no message {key!r} in the catalogs")
        for candidate in (language, fallback):
            entries = self._catalogs.get(normalize_language(candidate))
            if entries is not None and key in entries:
                return entries[key]
        return english[key]

    def placeholders(self, key: str, language: str = DEFAULT_LANGUAGE) -> frozenset[str]:
        """The placeholder names that message ``key`` uses in ``language``."""
        return _placeholders(self._message(key, language, DEFAULT_LANGUAGE), key)

    def text(self, key: str, language: str, fallback: str = DEFAULT_LANGUAGE, **values: Any) -> str:
        """Message ``key`` in ``language`` with ``values`` inserted as given.

        A language without a catalog falls back to ``fallback``, then English. An unknown key
        raises :class:`UnknownMessageError` (a ``KeyError``); a placeholder without a value
        raises :class:`MissingPlaceholderError` (a ``ValueError``) naming it. Values are not
        formatted here: format money, dates and lists first (see :func:`format_money`).
        """
        message = self._message(key, language, fallback)
        missing = sorted(_placeholders(message, key) - values.keys())
        if missing:
            names = ", ".join(missing)
            raise MissingPlaceholderError(f"message {key!r} needs a value for: {names}")
        return message.format_map(values)


@cache
def messages() -> Catalog:
    """The shared catalog of the shipped messages, read on first use."""
    return Catalog.load()


__all__ = ["Catalog", "MissingPlaceholderError", "UnknownMessageError", "messages"]
